from crm.admin import companies, contacts, interactions, purchases, reference, segments, users  # noqa: F401 - registers
