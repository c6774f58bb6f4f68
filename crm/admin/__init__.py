from crm.admin import api_keys, companies, contacts, interactions, purchases, reference, segments, users, webhooks  # noqa: F401 - registers
