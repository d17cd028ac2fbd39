"""Rule templates: small forms that write envelope YAML for people who do not write YAML.

Each template is a form; `template_insert` applies one to a draft and returns the new draft
text. Edits are made on a round-trip YAML tree (ruamel.yaml), so the admin's comments and
layout survive. A rule that narrows an action (limits, hours, rates, budgets) goes into the
capability for that action, created when missing; the draft is then checked by the same
compiler as always, so a template can never produce something the server would not accept.
"""

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

_ACTION = r"^[A-Za-z0-9_.:*?\-\[\]]+$"
_DURATION = r"^\d+[smhd]$"
_NAME = r"^[A-Za-z0-9_]+$"
PROTECTED = "protected-resources"  # name of the capabilities the protected-resources template writes


class TemplateError(ValueError):
    """The draft cannot take the template (e.g. it is not readable YAML)."""


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 100
    y.preserve_quotes = True
    return y


def _flow(items) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flowmap(**values) -> CommentedMap:
    m = CommentedMap(values)
    m.fa.set_flow_style()
    return m


def _words(text: str) -> list[str]:
    """A comma- or line-separated list typed into one box."""
    return [w.strip() for w in re.split(r"[,\n]", text) if w.strip()]


def _capability(doc: CommentedMap, action: str) -> CommentedMap:
    caps = doc.get("capabilities")
    if not isinstance(caps, list):
        caps = doc["capabilities"] = CommentedSeq()
    for cap in caps:
        if isinstance(cap, dict) and cap.get("action") == action:
            return cap
    cap = CommentedMap(action=action)
    cap["resources"] = _flow(["*"])
    caps.append(cap)
    return cap


def _append_rule(cap: CommentedMap, key: str, rule) -> None:
    rules = cap.get(key)
    if not isinstance(rules, list):
        rules = cap[key] = CommentedSeq()
    if rule not in rules:
        rules.append(rule)


def _require_number(cap: CommentedMap, param: str) -> None:
    schema = cap.get("params_schema")
    if not isinstance(schema, dict):
        schema = cap["params_schema"] = CommentedMap(type="object")
    required = schema.get("required")
    if not isinstance(required, list):
        required = schema["required"] = _flow([])
    if param not in required:
        required.append(param)
    props = schema.get("properties")
    if not isinstance(props, dict):
        props = schema["properties"] = CommentedMap()
    props.setdefault(param, _flowmap(type="number", minimum=0))


def _number(value) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


# ---- the templates ---------------------------------------------------------------------


class _ActionForm(forms.Form):
    action = forms.RegexField(regex=_ACTION, max_length=200, help_text="e.g. purchase_order.create (globs: crm.*)")


class SpendingLimitForm(_ActionForm):
    param = forms.RegexField(regex=_NAME, max_length=64, initial="amount", label="Amount parameter")
    ask_over = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, label="Ask a person above")
    hard_cap = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, label="Always deny above")

    def clean(self):
        data = super().clean()
        if data.get("ask_over") is not None and data.get("hard_cap") is not None and data["hard_cap"] < data["ask_over"]:
            raise forms.ValidationError("The hard cap must be at least the amount that needs a person.")
        return data

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        cap = _capability(doc, d["action"])
        _require_number(cap, d["param"])
        over, hard = _number(d["ask_over"]), _number(d["hard_cap"])
        _append_rule(cap, "deny_when", CommentedMap(
            when=f"params.{d['param']} > {hard}", code="over_hard_cap", message=f"{d['param']} over the hard cap of {hard}"))
        _append_rule(cap, "escalate_when", CommentedMap(
            when=f"params.{d['param']} > {over}", code="amount_over_limit", message=f"{d['param']} over {over} needs a person"))
        return f"spending limit on {d['action']}: ask above {over}, deny above {hard}"


class AllowListForm(_ActionForm):
    resources = forms.CharField(max_length=2000, help_text="comma-separated, e.g. vendor:staples, vendor:office-*")

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        cap = _capability(doc, d["action"])
        cap["resources"] = _flow(_words(d["resources"]))
        return f"{d['action']} allowed on {', '.join(_words(d['resources']))}"


class BusinessHoursForm(_ActionForm):
    days = forms.ChoiceField(choices=[("Mon-Fri", "Monday to Friday"), ("Mon-Sat", "Monday to Saturday"), ("Mon-Sun", "Every day")])
    start = forms.RegexField(regex=r"^\d\d:\d\d$", initial="09:00")
    end = forms.RegexField(regex=r"^\d\d:\d\d$", initial="17:00")
    tz = forms.CharField(max_length=64, initial="UTC", label="Time zone")
    outside = forms.ChoiceField(choices=[("escalate", "ask a person"), ("deny", "deny")], label="Outside these hours")

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        cap = _capability(doc, d["action"])
        cap["hours"] = _flowmap(allow=f"{d['days']} {d['start']}-{d['end']}", tz=d["tz"], outside=d["outside"])
        return f"{d['action']} within {d['days']} {d['start']}-{d['end']} {d['tz']}"


class RateLimitForm(_ActionForm):
    max = forms.IntegerField(min_value=0, max_value=1_000_000, label="At most")
    per = forms.RegexField(regex=_DURATION, initial="10m", label="Per (e.g. 10m, 1h)")
    over = forms.ChoiceField(choices=[("escalate", "ask a person"), ("deny", "deny")], label="Above that")

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        _capability(doc, d["action"])["velocity"] = _flowmap(max=d["max"], per=d["per"], over=d["over"])
        return f"rate limit on {d['action']}: {d['max']} per {d['per']}"


class DailyBudgetForm(_ActionForm):
    param = forms.RegexField(regex=_NAME, max_length=64, initial="amount", label="Amount parameter")
    max = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, label="Total per day")
    over = forms.ChoiceField(choices=[("escalate", "ask a person"), ("deny", "deny")], label="Above that")

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        cap = _capability(doc, d["action"])
        cap["cumulative"] = _flowmap(param=d["param"], max=_number(d["max"]), per="24h", over=d["over"])
        return f"daily budget on {d['action']}: {_number(d['max'])} of {d['param']}"


class ProtectedResourcesForm(forms.Form):
    action = forms.RegexField(regex=_ACTION, max_length=200, initial="*", help_text="which actions; * for all")
    resources = forms.CharField(max_length=2000, help_text="comma-separated, e.g. db:payments-replica, dns:*")

    def apply(self, doc: CommentedMap) -> str:
        # Until resource facts (issue 14) land, protection is a list in the envelope; then this
        # becomes `deny_when: ["facts.protected"]`. The capability goes first: the first
        # capability that matches a request decides it, so nothing later can allow these.
        d = self.cleaned_data
        caps = doc.get("capabilities")
        if not isinstance(caps, list):
            caps = doc["capabilities"] = CommentedSeq()
        cap = CommentedMap(name=PROTECTED, action=d["action"])
        cap["resources"] = _flow(_words(d["resources"]))
        cap["deny_when"] = CommentedSeq([CommentedMap(when="true", code="protected_resource", message="this resource is protected")])
        caps.insert(0, cap)
        return f"protected: {', '.join(_words(d['resources']))}"


class SequenceForm(forms.Form):
    name = forms.RegexField(regex=r"^[a-z0-9][a-z0-9._-]*$", max_length=100, initial="exposure-chain")
    steps = forms.CharField(max_length=1000, help_text="actions in order, comma-separated (at least two)")
    within = forms.RegexField(regex=_DURATION, initial="30m")
    key = forms.ChoiceField(choices=[("resource", "the same resource"), ("context.session", "the same session")])
    on_complete = forms.ChoiceField(choices=[("escalate", "ask a person"), ("deny", "deny")], label="When complete")

    def clean_steps(self):
        steps = _words(self.cleaned_data["steps"])
        if len(steps) < 2:
            raise forms.ValidationError("A sequence needs at least two steps.")
        return steps

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        seqs = doc.get("sequences")
        if not isinstance(seqs, list):
            seqs = doc["sequences"] = CommentedSeq()
        seqs[:] = [s for s in seqs if not (isinstance(s, dict) and s.get("name") == d["name"])]
        seqs.append(CommentedMap(name=d["name"], within=d["within"], match=_flow(d["steps"]), key=d["key"], on_complete=d["on_complete"]))
        return f"sequence {d['name']}: {' → '.join(d['steps'])}"


class ApproversForm(forms.Form):
    approvers = forms.CharField(max_length=1000, help_text="groups, comma-separated, e.g. finance")
    quorum = forms.IntegerField(min_value=1, max_value=20, initial=1, label="Approvals needed")
    action = forms.RegexField(regex=_ACTION, max_length=200, required=False, help_text="leave empty for the whole envelope")

    def apply(self, doc: CommentedMap) -> str:
        d = self.cleaned_data
        target = _capability(doc, d["action"]) if d["action"] else doc
        target["approvers"] = _flow(_words(d["approvers"]))
        target["quorum"] = d["quorum"]
        return f"approvers {', '.join(_words(d['approvers']))}, quorum {d['quorum']}"


@dataclass(frozen=True)
class Template:
    slug: str
    title: str
    blurb: str
    form: Callable[..., forms.Form]


TEMPLATES = (
    Template("allow-list", "Vendor / resource allow-list", "Let an action run on these resources only.", AllowListForm),
    Template("spending-limit", "Spending limit with hard cap", "Ask a person above an amount; never allow above a cap.", SpendingLimitForm),
    Template("business-hours", "Business hours", "Outside these hours, ask a person or deny.", BusinessHoursForm),
    Template("rate-limit", "Rate limit", "At most N of this action in a time window.", RateLimitForm),
    Template("daily-budget", "Daily budget", "A total per 24 hours across requests.", DailyBudgetForm),
    Template("protected", "Protected resources", "Always deny these resources.", ProtectedResourcesForm),
    Template("sequence", "Cross-agent sequence", "Steps that together need a person.", SequenceForm),
    Template("approvers", "Approvers and quorum", "Who answers, and how many must agree.", ApproversForm),
)
BY_SLUG = {t.slug: t for t in TEMPLATES}


def template_insert(*, source: str, form: forms.Form) -> tuple[str, str]:
    """(new draft, one-line summary of what was added). `form` must be valid."""
    y = _yaml()
    try:
        doc = y.load(source) if source.strip() else None
    except YAMLError as exc:
        raise TemplateError(f"the draft is not readable YAML yet ({str(exc).splitlines()[0]}); fix it first") from None
    if not isinstance(doc, dict):
        raise TemplateError("the draft must be an envelope (agent, capabilities, ...) before a rule can be added")
    summary = form.apply(doc)
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue(), summary
