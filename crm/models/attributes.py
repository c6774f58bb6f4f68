from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


class AttributeDefinition(models.Model):
    """A custom contact attribute staff define in the admin; contact values are validated against it."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        BOOLEAN = "boolean", "Yes / no"
        CHOICE = "choice", "Choice"

    key = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]*$", "Use lower-case letters, digits and _, starting with a letter.")
        ],
        help_text="Stable key stored on contacts and used by the API, e.g. loyalty_tier",
    )
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.TEXT)
    required = models.BooleanField(default=False)
    choices = models.JSONField(
        default=list, blank=True, help_text='For "choice": the allowed values, e.g. ["gold", "silver"]'
    )
    help_text = models.CharField(max_length=255, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        if self.type == self.Type.CHOICE:
            if (
                not isinstance(self.choices, list)
                or not self.choices
                or not all(isinstance(c, str) and c for c in self.choices)
            ):
                raise ValidationError(
                    {"choices": 'A choice attribute needs a list of values, e.g. ["gold", "silver"].'}
                )
        elif self.choices:
            raise ValidationError({"choices": "Only choice attributes take a list of values."})
