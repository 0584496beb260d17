"""Team (per workspace): the members with their roles (change a role, remove someone, their API keys revoked or
handed over as the API does it), and the invitations (invite, resend, revoke, and the link to pass on by hand, which
is the only way in when the appliance has no mail relay)."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.views.team_dialogs import GRANTABLE, NO_RELAY, ROLES_HELP, InviteDialog, KeysConfirmation
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm, show_secret
from gui.widgets.formatting import when
from gui.widgets.tables import records_table, selected_record

# The roles whose members may hold API keys: from docs/permissions.md (api_keys.manage), for the hand-over choice.
KEY_HOLDERS = ("admin", "owner")
DIMMED = "#f1f3f5"

READ_ONLY = ("This workspace is cancelled, so its team is read-only: nobody can be invited, removed or given another "
             "role until the owner undoes the cancellation (Workspaces).")


def invitation_state(invitation: dict, *, now: dt.datetime | None = None) -> str:
    if invitation.get("accepted_at"):
        return "accepted"
    if invitation.get("revoked_at"):
        return "revoked"
    expires = dt.datetime.fromisoformat(invitation["expires_at"].replace("Z", "+00:00"))
    return "expired" if expires <= (now or dt.datetime.now(dt.timezone.utc)) else "pending"


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-size:15px;font-weight:600;margin-top:6px;")
    return label


class TeamPage(Page):
    title = "Team"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.invite_dialog: InviteDialog | None = None
        self.secret_dialog = None
        self._links: dict[str, str] = {}  # invitation id -> link made in this session (memory only, never stored)
        self.add_intro(f"Who works in this workspace, and what their role lets them do. {ROLES_HELP}")
        self.add_read_only_notice(READ_ONLY)
        self.mail_notice = Banner(self)
        self.body.addWidget(self.mail_notice)

        self.members = RecordsModel([
            Column("display_name", "Name", show=self._name),
            Column("email", "Email"),
            Column("role", "Role"),
            Column("joined_at", "Joined", show=lambda m: when(m["joined_at"]), sort=lambda m: m["joined_at"]),
        ], loader=self._load_members)
        self.members_table = records_table(self.members, name="membersTable", stretch=1,
                                           sort=(3, Qt.SortOrder.AscendingOrder), owner=self)
        self.members_table.selectionModel().selectionChanged.connect(self._update_buttons)
        member_actions = QHBoxLayout()
        member_actions.addWidget(QLabel("Role:"))
        self.role_choice = QComboBox()
        self.role_choice.setObjectName("roleChoice")
        for role in GRANTABLE:
            self.role_choice.addItem(role, role)
        member_actions.addWidget(self.role_choice)
        self.change_role_button = action_button("Change role", self.change_role_action, name="changeRole",
                                                row=member_actions)
        self.remove_button = action_button("Remove…", self.remove_member_action, name="removeMember",
                                           row=member_actions)
        member_actions.addStretch(1)

        self.invitations = RecordsModel([
            Column("email", "Email"),
            Column("role", "Role"),
            Column("state", "State", show=lambda i: invitation_state(i)),
            Column("expires_at", "Expires", show=lambda i: when(i["expires_at"]), sort=lambda i: i["expires_at"]),
            Column("created_at", "Sent", show=lambda i: when(i["created_at"]), sort=lambda i: i["created_at"]),
        ], loader=self._load_invitations,
            highlight=lambda i: None if invitation_state(i) in ("pending", "accepted") else DIMMED)
        self.invitations_table = records_table(self.invitations, name="invitationsTable", stretch=0,
                                               sort=(4, Qt.SortOrder.DescendingOrder), owner=self)
        self.invitations_table.selectionModel().selectionChanged.connect(self._update_buttons)
        invitation_actions = QHBoxLayout()
        self.invite_button = action_button("Invite…", self.invite_action, name="invite", row=invitation_actions)
        self.resend_button = action_button("Resend", self.resend_action, name="resend", row=invitation_actions)
        self.copy_link_button = action_button("Copy link", self.copy_link_action, name="copyLink",
                                              row=invitation_actions)
        self.revoke_button = action_button("Revoke…", self.revoke_invitation_action, name="revokeInvitation",
                                           row=invitation_actions)
        invitation_actions.addStretch(1)
        self.invitations_note = QLabel()
        self.invitations_note.setObjectName("invitationsNote")
        self.invitations_note.setWordWrap(True)
        self.invitations_note.setStyleSheet("color:#5f6b7a;")

        self.body.addWidget(_heading("Members"))
        self.body.addWidget(self.members_table, 3)
        self.body.addLayout(member_actions)
        self.body.addWidget(_heading("Invitations"))
        self.body.addWidget(self.invitations_note)
        self.body.addWidget(self.invitations_table, 2)
        self.body.addLayout(invitation_actions)
        self.members.modelReset.connect(self._update_buttons)
        self.invitations.modelReset.connect(self._invitations_loaded)

    # --- what the caller may do -------------------------------------------------------------------------------

    def may(self, permission: str) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, permission)

    def _refused(self, error: ApiError) -> None:
        """An action the API refused. (A load that fails only says so: reloading from it could go round forever.)"""
        self.show_error(error)
        if error.status == 403:
            # The role may have changed meanwhile: the navigation reloads /me and refreshes this page, whose buttons
            # then follow the API's answer; that refresh keeps this explanation on screen.
            self.reload_keeping_message()
        self._update_buttons()

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message_unless_kept()
        self.update_read_only_notice()
        if not self.context.mail_can_leave:
            self.mail_notice.show_message(NO_RELAY, kind="warning")
        else:
            self.mail_notice.hide()
        self.members.reload()
        if not self.context.may(self.workspace_id, "invitations.read"):
            self._no_invitations(f"Your role, {self.role}, cannot see or send invitations; an admin or the owner "
                                 "can.")
        else:
            self.invitations_table.show()
            self.invitations.reload()
        self._update_buttons()

    def _no_invitations(self, why: str) -> None:
        self.invitations.set_records([])
        self.invitations_table.hide()
        self.invitations_note.setText(why)
        self.invitations_note.show()

    def _load_members(self, after, deliver) -> None:
        query = "?limit=100" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/members{query}",
                     on_done=lambda a: deliver(a["members"], a.get("next_after")),
                     on_error=lambda e: (self.members.loading_failed(), self.show_error(e)))

    def _load_invitations(self, after, deliver) -> None:
        query = "?limit=100" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/invitations{query}",
                     on_done=lambda a: deliver(a["invitations"], a.get("next_after")),
                     on_error=lambda e: (self.invitations.loading_failed(),
                                         self.show_error(e)))

    def _invitations_loaded(self) -> None:
        if self.invitations_table.isHidden():
            return
        pending = sum(invitation_state(i) == "pending" for i in self.invitations.records())
        self.invitations_note.setText(
            "No invitations yet. Invite someone with Invite…" if not self.invitations.rowCount() else
            f"{pending} pending. A link works once, only for the address it was sent to; Resend makes a new link "
            "and the old one stops working.")
        self.invitations_note.show()
        self._update_buttons()

    def _name(self, member: dict) -> str:
        name = member["display_name"] or member["email"]
        return f"{name} (you)" if member["user_id"] == self.context.user.get("id") else name

    # --- members ----------------------------------------------------------------------------------------------

    def selected_member(self) -> dict | None:
        return selected_record(self.members_table)

    def selected_invitation(self) -> dict | None:
        return selected_record(self.invitations_table)

    def _update_buttons(self) -> None:
        member = self.selected_member()
        manageable = member is not None and member["role"] != "owner"
        manage = self.may("members.manage")
        self.change_role_button.setEnabled(manage and manageable)
        self.role_choice.setEnabled(manage and manageable)
        self.remove_button.setEnabled(manage and manageable)
        owner = member is not None and member["role"] == "owner"
        self.remove_button.setToolTip("The owner stays until ownership is transferred." if owner else "")
        invite = self.may("invitations.manage")
        invitation = self.selected_invitation()
        state = invitation_state(invitation) if invitation else None
        self.invite_button.setEnabled(invite)
        self.resend_button.setEnabled(invite and state in ("pending", "expired"))
        self.revoke_button.setEnabled(invite and state in ("pending", "expired"))
        self.copy_link_button.setEnabled(invite and state == "pending")

    def _heirs(self, member: dict) -> list[dict]:
        return [m for m in self.members.records() if m["role"] in KEY_HOLDERS and m["user_id"] != member["user_id"]]

    def _settle_then(self, member: dict, new_role: str | None, title: str, text: str, action: str, then) -> None:
        """Confirm; when the member loses the power to hold API keys, also ask whether to revoke or hand them over
        (`then(heir)`, heir None for revoking, as the API does by default)."""
        if member["role"] not in KEY_HOLDERS:
            confirm(self, title, f"{text} They hold no API keys here: only admins and the owner may.", action,
                    lambda: then(None), destructive=new_role is None)
            return
        if new_role in KEY_HOLDERS:
            confirm(self, title, f"{text} Their API keys here keep working.", action, lambda: then(None))
            return
        heirs = self._heirs(member)
        keys = ("The API keys they hold here are revoked, unless you hand them to another admin below." if heirs
                else "The API keys they hold here are revoked (there is no other admin to hand them to).")
        dialog = KeysConfirmation(self, title, f"{text} {keys}", action, heirs=heirs)
        dialog.accepted.connect(lambda: then(dialog.heir))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def change_role_action(self) -> None:
        member, role = self.selected_member(), self.role_choice.currentData()
        if member is None:
            return
        who = member["display_name"] or member["email"]
        if role == member["role"]:
            self.show_notice(f"{who} is already {role}. Choose another role first.")
            return
        self._settle_then(member, role, f"Make {who} {role}?", f"{who} becomes {role} (now {member['role']}).",
                          "Change role", lambda heir: self._change_role(member, role, heir))

    def _change_role(self, member: dict, role: str, heir: str | None) -> None:
        body = {"role": role, **({"hand_api_keys_to": heir} if heir else {})}
        self.api.patch(f"/api/v1/workspaces/{self.workspace_id}/members/{member['user_id']}", body,
                       on_done=lambda a: self._changed(member, a), on_error=self._refused)

    def _changed(self, member: dict, answer: dict) -> None:
        self.show_notice(f"{member['display_name'] or member['email']} is now {answer['role']}."
                         + _settled(answer["api_keys"], self.members.records()))
        self.members.reload()

    def remove_member_action(self) -> None:
        member = self.selected_member()
        if member is None:
            return
        who = member["display_name"] or member["email"]
        self._settle_then(member, None, f"Remove {who}?",
                          f"{who} ({member['email']}) loses access to this workspace at once.", "Remove",
                          lambda heir: self._remove(member, heir))

    def _remove(self, member: dict, heir: str | None) -> None:
        query = f"?hand_api_keys_to={heir}" if heir else ""
        self.api.delete(f"/api/v1/workspaces/{self.workspace_id}/members/{member['user_id']}{query}",
                        on_done=lambda a: (self.show_notice(a["message"]), self.members.reload()),
                        on_error=self._refused)

    # --- invitations ------------------------------------------------------------------------------------------

    def invite_action(self) -> None:
        self.invite_dialog = InviteDialog(self)
        self.invite_dialog.sent.connect(self.invited)
        self.invite_dialog.open()

    def invited(self, answer: dict, *, resent: bool = False) -> None:
        invitation, link = answer["invitation"], answer["accept_url"]
        self._links[invitation["id"]] = link
        self.show_link(invitation, link, fresh=True, resent=resent)
        self.invitations.reload()

    def show_link(self, invitation: dict, link: str, *, fresh: bool, resent: bool = False) -> None:
        email, until = invitation["email"], when(invitation["expires_at"])
        if not self.context.mail_can_leave:
            sent = "This appliance has no mail relay, so nothing was mailed: pass the link on yourself."
        elif fresh:
            sent = f"An invitation mail is on its way to {email}; you may pass the link on as well."
        else:
            sent = "This is the link made when the invitation was sent from this panel."
        replaced = " The previous link no longer works." if resent else ""
        self.secret_dialog = show_secret(
            self, f"Invitation link for {email}", link,
            f"{sent}{replaced} It works once, only for {email}, as {invitation['role']}, until {until}. "
            "The appliance keeps no copy of it.")
        self.secret_dialog.copy_button.setText("Copy the link")

    def resend_action(self) -> None:
        invitation = self.selected_invitation()
        if invitation is None:
            return
        mailed = "mails it to them" if self.context.mail_can_leave else "shows it to you to pass on (nothing is mailed)"
        confirm(self, f"Resend the invitation to {invitation['email']}?",
                f"The appliance makes a new link with a new expiry and {mailed}. The link sent before stops "
                "working.", "Resend", lambda: self._resend(invitation))

    def _resend(self, invitation: dict) -> None:
        self.api.post(f"/api/v1/workspaces/{self.workspace_id}/invitations/{invitation['id']}/resend",
                      on_done=lambda a: self.invited(a, resent=True), on_error=self._refused)

    def copy_link_action(self) -> None:
        invitation = self.selected_invitation()
        if invitation is None:
            return
        link = self._links.get(invitation["id"])
        if link is not None:
            self.show_link(invitation, link, fresh=False)
            return
        confirm(self, f"Make a new link for {invitation['email']}?",
                "The appliance keeps only a fingerprint of each invitation link, so it cannot show this one again. "
                "It can make a new one (as Resend does): the link sent before then stops working"
                + (", and the new one is mailed too." if self.context.mail_can_leave else "."),
                "Make a new link", lambda: self._resend(invitation))

    def revoke_invitation_action(self) -> None:
        invitation = self.selected_invitation()
        if invitation is None:
            return
        confirm(self, f"Revoke the invitation to {invitation['email']}?",
                "Its link stops working at once. You can invite them again later.", "Revoke",
                lambda: self.api.delete(
                    f"/api/v1/workspaces/{self.workspace_id}/invitations/{invitation['id']}",
                    on_done=lambda _: (self.show_notice(f"The invitation to {invitation['email']} was revoked."),
                                       self.invitations.reload()),
                    on_error=self._refused), destructive=True)


def _settled(keys: list[dict], members: list[dict]) -> str:
    """What became of the member's API keys, in words."""
    if not keys:
        return ""
    names = {m["user_id"]: m["display_name"] or m["email"] for m in members}
    revoked = [k["name"] for k in keys if k["outcome"] == "revoked"]
    handed = [f"{k['name']} (to {names.get(k['to'], k['to'])})" for k in keys if k["outcome"] == "handed_over"]
    parts = ([f"API keys revoked: {', '.join(revoked)}."] if revoked else []) + \
            ([f"API keys handed over: {', '.join(handed)}."] if handed else [])
    return " " + " ".join(parts)
