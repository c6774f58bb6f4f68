from social.admin import (  # noqa: F401 - registers the admins
    channels,
    conversations,
    events,
    listening,
    listening_dashboard,
)
