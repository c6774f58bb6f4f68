from routing.admin import hours, rules, sla, teams  # noqa: F401 - registers
