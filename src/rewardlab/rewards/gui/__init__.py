"""The GUI family: grounding rewards for clicks and boxes on a screen (`gui_point`, `gui_box`)."""
