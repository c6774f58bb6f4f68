from routing.admin import hours, rules, teams  # noqa: F401 - registers
