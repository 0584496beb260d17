"""What went wrong, as the panel words it: the role a 403 names, the field a 400 names."""

from __future__ import annotations

from gui.client.errors import ApiError


def test_a_refusal_is_explained_with_the_role_the_appliance_named_over_the_one_the_panel_knew():
    named = ApiError.from_response(403, b'{"error": "forbidden", "message": "this needs the admin role in the '
                                        b'workspace; you are viewer", "role": "viewer"}', {})
    unnamed = ApiError.from_response(403, b'{"error": "forbidden", "message": "operators only"}', {})

    assert named.explain(role="admin").startswith("Your role, viewer, cannot do this.")
    assert unnamed.explain(role="editor").startswith("Your role, editor, cannot do this.")


def test_a_field_error_is_placed_on_the_field_the_appliance_or_the_screen_names():
    said = ApiError.from_response(400, b'{"error": "invalid_request", "message": "\'email\' is not an email '
                                       b'address"}', {})
    unnamed = ApiError.from_response(400, b'{"error": "invalid_request", "message": "a workspace name is '
                                          b'required"}', {})

    assert said.field == "email"
    assert unnamed.field is None and unnamed.on_field("name").field == "name"
