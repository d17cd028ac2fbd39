"""Input forms of the admin pages. Anything a person types is validated here first."""

from datetime import UTC

from django import forms

from governance.models import Agent, Anomaly, agent_name_validator
from governance.netguard import UnsafeURL, callback_url_check


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[agent_name_validator], help_text="e.g. procurement-bot")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    callback_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https",
        help_text="Optional. Airlock POSTs the final answer here, signed with a secret shown once.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Agent.objects.filter(name=name).exists():
            raise forms.ValidationError(f"an agent named {name} already exists")
        return name

    def clean_callback_url(self) -> str:
        url = self.cleaned_data["callback_url"]
        if url:
            try:
                callback_url_check(url)
            except UnsafeURL as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class EnvelopeDraftForm(forms.Form):
    source = forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false"}))
    comment = forms.CharField(required=False, max_length=500)


class ReplayForm(forms.Form):
    source = forms.CharField(strip=False)
    days = forms.IntegerField(min_value=1, max_value=90, initial=7)


class _UtcDateTimeField(forms.DateTimeField):
    """datetime-local inputs carry no zone; the audit trail is in UTC, so read them as UTC."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            result = result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
        return result


class AuditFilterForm(forms.Form):
    agent = forms.ChoiceField(required=False)
    kind = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=200)
    since = _UtcDateTimeField(required=False, label="From (UTC)")
    until = _UtcDateTimeField(required=False, label="To (UTC)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = Agent.objects.order_by("name").values_list("name", flat=True)
        self.fields["agent"].choices = [("", "any agent")] + [(n, n) for n in names]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise forms.ValidationError("'From' must be before 'To'.")
        return data


class AnomalyFilterForm(forms.Form):
    tag = forms.ChoiceField(required=False, choices=[("", "any tag")] + Anomaly.Tag.choices)
    state = forms.ChoiceField(required=False, choices=[("", "any state")] + Anomaly.State.choices)
    agent = forms.CharField(required=False, max_length=100)


class RetagForm(forms.Form):
    tag = forms.ChoiceField(choices=Anomaly.Tag.choices)
    reason = forms.CharField(required=False, max_length=500)


class ResolveForm(forms.Form):
    note = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
