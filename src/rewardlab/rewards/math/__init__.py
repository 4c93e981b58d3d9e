"""The math family: final-answer extraction and mathematical equality (`math`)."""
