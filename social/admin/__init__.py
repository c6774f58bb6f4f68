from social.admin import channels, conversations, events  # noqa: F401 - registers the admins
