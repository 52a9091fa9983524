"""Forms for project setup: settings, classes and members. Views hand their cleaned data to services."""

from __future__ import annotations

from django import forms
from django.forms import fields_for_model, formset_factory

import sslengine
from labelapp.projects.models import Project, Role
from labelapp.projects.services import SETTINGS_FIELDS, ClassSpec


def _choices(names: list[str]) -> list[tuple[str, str]]:
    return [(name, name) for name in names]


class ProjectSettingsForm(forms.Form):
    """The owner-editable settings; algorithm, backbone and strategy come from the engine's registries."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Project, fields=SETTINGS_FIELDS))
        self.fields["algorithm"] = forms.ChoiceField(choices=_choices(sslengine.list_algorithms()))
        self.fields["backbone"] = forms.ChoiceField(choices=_choices(sslengine.list_backbones()))
        self.fields["strategy"] = forms.ChoiceField(
            choices=_choices(sslengine.list_strategies()), label="Active-learning strategy"
        )
        self.fields["threshold"].label = "Confidence threshold τ"
        self.fields["round_seconds"].label = "Seconds per training round"


class ProjectCreateForm(ProjectSettingsForm):
    """A new project: its settings plus a slug and its classes, one per line (hotkeys 1-9, 0 in order)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"] = forms.SlugField(
            max_length=64, required=False, help_text="Used in URLs; made from the name when empty."
        )
        self.fields["classes"] = forms.CharField(
            widget=forms.Textarea(attrs={"rows": 6, "placeholder": "cat\ndog\nbird"}),
            help_text="One class per line, in order; hotkeys 1-9, 0 are given in this order (change them later).",
        )
        self.order_fields(["name", "slug", "classes"])

    def clean_classes(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["classes"].splitlines() if line.strip()]


class ClassRowForm(forms.Form):
    """One row of the classes table: an existing class (``pk``) or a new one (blank ``pk``)."""

    pk = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=100, required=False)
    hotkey = forms.CharField(max_length=1, required=False, widget=forms.TextInput(attrs={"size": 2}))

    def spec(self) -> ClassSpec | None:
        """The class this row asks for, ``None`` for a deleted or blank row."""
        data = self.cleaned_data
        if not data or data.get("DELETE") or (data.get("pk") is None and not data.get("name", "").strip()):
            return None
        return ClassSpec(name=data.get("name", ""), hotkey=data.get("hotkey", ""), pk=data.get("pk"))


ClassFormSet = formset_factory(ClassRowForm, extra=3, can_delete=True)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class InviteForm(forms.Form):
    """A person who has no account yet: the username their new account gets, and their role here."""

    username = forms.CharField(
        max_length=150, label="New username", help_text="Letters, digits and @ . + - _ only; they log in with it."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
