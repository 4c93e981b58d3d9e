"""The tool-call family: predicted tool calls against reference calls (`tool_call`)."""
