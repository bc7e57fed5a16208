"""The README's first workflow: one activity that greets."""
