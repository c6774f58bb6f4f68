from routing.admin import hours, teams  # noqa: F401 - registers
