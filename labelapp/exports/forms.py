"""The owner's distillation form: which version, which student, which loss, how long."""

from __future__ import annotations

from django import forms

from labelapp.exports.models import Distillation
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion
from sslengine import list_backbones

DEFAULT_SECONDS = 120
MAX_SECONDS = 3600


class VersionChoiceField(forms.ModelChoiceField):
    """A model version shown by its number: ``v3``."""

    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"v{obj.number}"


class DistillForm(forms.Form):
    version = VersionChoiceField(queryset=ModelVersion.objects.none(), to_field_name="number", empty_label=None)
    student = forms.ChoiceField(choices=())
    mode = forms.ChoiceField(choices=Distillation.Mode.choices, initial=Distillation.Mode.HARD)
    seconds = forms.IntegerField(min_value=5, max_value=MAX_SECONDS, initial=DEFAULT_SECONDS)

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        version, student = self.fields["version"], self.fields["student"]  # this form's copies of the fields above
        assert isinstance(version, VersionChoiceField) and isinstance(student, forms.ChoiceField)
        version.queryset = ModelVersion.objects.filter(project=project).select_related("project").order_by("-number")
        student.choices = [(name, name) for name in list_backbones()]
