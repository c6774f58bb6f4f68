from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in: staff work in the admin; partners' keys are tied to a user too.

    A project-owned user model from the first migration, so later fields (agent settings live in
    ``routing``) never require swapping ``AUTH_USER_MODEL`` on a live database.
    """

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]
        swappable = "AUTH_USER_MODEL"
        db_table = "crm_user"

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username
