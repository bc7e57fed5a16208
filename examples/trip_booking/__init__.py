"""Trip booking saga: book car, hotel and flight; undo what was booked when a step fails."""
