"""Lead form fields: required ones, email and phone checks, the agent's own fields, and lead settings validation."""

from __future__ import annotations

import pytest

from appliance.agent.agents import check_settings
from appliance.conversations.leads import check_fields
from appliance.errors import FieldErrors, ValidationError


class FormAgent:
    lead_fields = [{"name": "name", "label": "Name", "type": "text", "required": True},
                   {"name": "email", "label": "Email", "type": "email", "required": True},
                   {"name": "phone", "label": "Phone", "type": "tel", "required": False},
                   {"name": "notes", "label": "Notes", "type": "textarea", "required": False}]


def test_a_complete_form_is_cleaned():
    cleaned = check_fields(FormAgent, {"name": "  Jane Doe ", "email": "Jane.Doe@Example.COM",
                                       "phone": "+1 (555) 010-9999 ext 12", "notes": "Two lines\nof notes"})
    assert cleaned == {"name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+1 (555) 010-9999 ext 12",
                       "notes": "Two lines\nof notes"}


def test_every_wrong_field_is_named_at_once():
    with pytest.raises(FieldErrors) as raised:
        check_fields(FormAgent, {"name": "", "email": "jane@", "phone": "call me maybe", "extra": "x"})
    assert set(raised.value.fields) == {"name", "email", "phone", "extra"}
    assert raised.value.fields["name"] == "Name is required"


@pytest.mark.parametrize("email", ["jane@example", "jane@@example.com", "jane example@x.com", "<a>@x.com",
                                   "jane@-x.com", "a" * 65 + "@example.com"])
def test_bad_email_addresses_are_refused(email):
    with pytest.raises(FieldErrors, match="email address"):
        check_fields(FormAgent, {"name": "J", "email": email})


@pytest.mark.parametrize("phone", ["12345", "+1 555", "555-CALL-NOW", "1" * 21])
def test_bad_phone_numbers_are_refused(phone):
    with pytest.raises(FieldErrors, match="phone number"):
        check_fields(FormAgent, {"name": "J", "email": "j@example.com", "phone": phone})


def test_control_characters_and_newlines_in_one_line_fields_are_refused():
    with pytest.raises(FieldErrors, match="one line"):
        check_fields(FormAgent, {"name": "Jane\nBcc: x", "email": "j@example.com"})
    with pytest.raises(FieldErrors):
        check_fields(FormAgent, {"name": "J\x00", "email": "j@example.com"})
    with pytest.raises(FieldErrors, match="at most"):
        check_fields(FormAgent, {"name": "J" * 301, "email": "j@example.com"})


def test_non_text_values_are_refused():
    with pytest.raises(FieldErrors):
        check_fields(FormAgent, {"name": ["J"], "email": "j@example.com"})
    with pytest.raises(FieldErrors):
        check_fields(FormAgent, "name=J")


@pytest.mark.parametrize("fields", [
    [], [{"name": "Email", "label": "x"}], [{"name": "email", "label": "E", "type": "text"}],
    [{"name": "x", "label": ""}], [{"name": "x", "label": "X", "type": "file"}],
    [{"name": "x", "label": "X"}, {"name": "x", "label": "Y"}], [{"name": "consent", "label": "C"}],
    [{"name": "x", "label": "X", "required": "yes"}], [{"name": "x", "label": "X", "hidden": True}],
    [{"name": f"f{i}", "label": "F"} for i in range(13)],
])
def test_lead_field_settings_are_checked(fields):
    with pytest.raises(ValidationError):
        check_settings({"lead_fields": fields})


def test_lead_field_settings_give_built_in_fields_their_type():
    stored = check_settings({"lead_fields": [{"name": "phone", "label": "Phone"},
                                             {"name": "team", "label": "Team", "required": True}],
                             "color": "#ABCDEF", "notify_on_lead": False})
    assert stored["lead_fields"] == ('[{"name": "phone", "label": "Phone", "type": "tel", "required": false}, '
                                     '{"name": "team", "label": "Team", "type": "text", "required": true}]')
    assert stored["color"] == "#abcdef" and stored["notify_on_lead"] == 0
    with pytest.raises(ValidationError, match="hex colour"):
        check_settings({"color": "red"})
