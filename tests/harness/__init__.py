"""The test harness itself, and the rules the code's layout keeps."""
