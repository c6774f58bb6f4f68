from django.db import models
from django.db.models.functions import Lower


class Tag(models.Model):
    """A label shared by contacts and companies; created on the fly when staff type a new one."""

    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # "VIP" and "vip" are the same tag.
            models.UniqueConstraint(Lower("name"), name="crm_tag_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name
