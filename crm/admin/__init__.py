from crm.admin import companies, contacts, interactions, purchases, reference, users  # noqa: F401 - registers
