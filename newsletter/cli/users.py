"""`newsletter users …`: the people who sign in to the admin (docs/admin.md).

Passwords are never arguments (they would stay in the shell history and the process list):
they are asked for twice at a terminal, or read as one line from standard input otherwise
(`printf '%s\\n' "$PASSWORD" | newsletter users create …`).
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console
from newsletter.errors import ValidationError

users_app = typer.Typer(
    help="Admin accounts: create, list, disable, roles, passwords.", no_args_is_help=True
)
app.add_typer(users_app, name="users")

Email = Annotated[str, typer.Argument(help="The person's email address (their sign-in name).")]
ROLE_HELP = "admin, marketer or staff (docs/admin.md: what each may do)."


def _actor() -> str:
    try:
        return f"staff:{getpass.getuser()}"
    except (KeyError, OSError):
        return "staff:cli"


def read_password(prompt: str = "Password") -> str:
    """From a prompt (twice) at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass(f"{prompt} (again): ") != first:
            raise ValidationError(
                "the two passwords differ",
                where="password prompt",
                fix="type the same password twice",
            )
        return first
    line = sys.stdin.readline()
    if not line:
        raise ValidationError(
            "no password on standard input",
            where="stdin",
            fix="pipe the password in as one line, or run at a terminal",
        )
    return line.rstrip("\r\n")


@users_app.command("create")
def create(
    email: Email,
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
) -> None:
    """Create an account; the password comes from a prompt or from standard input."""
    from newsletter.accounts.roles import parse_role
    from newsletter.accounts.service import create_user

    parse_role(role)  # before asking for a password
    password = read_password()
    with open_database() as db:
        create_user(db, email, role, password, actor=_actor())
    console.print(f"Created {role.lower()} account {email.strip().lower()}.", highlight=False)


@users_app.command("list")
def list_() -> None:
    """Every account: role, second factor, locked or disabled."""
    from newsletter.accounts.service import list_users, lock_state

    with open_database() as db:
        rows = list_users(db)
        locked = lock_state(db, [r.email for r in rows], datetime.now(UTC))
    table = Table("Email", "Role", "2FA", "State", "Created")
    for row in rows:
        state = "disabled" if row.disabled_at else "active"
        if row.email in locked:
            state += f", locked until {locked[row.email]:%Y-%m-%d %H:%M} UTC"
        table.add_row(
            row.email,
            row.role,
            "yes" if row.totp_secret else "no",
            state,
            f"{row.created_at:%Y-%m-%d}",
        )
    console.print(table, markup=False, highlight=False)


@users_app.command("disable")
def disable(email: Email) -> None:
    """Disable an account and end its sessions (it can be enabled again)."""
    from newsletter.accounts.service import set_disabled

    with open_database() as db:
        set_disabled(db, email, True, actor=_actor())
    console.print(f"Disabled {email}; its sessions have ended.", highlight=False)


@users_app.command("enable")
def enable(email: Email) -> None:
    """Enable a disabled account again."""
    from newsletter.accounts.service import set_disabled

    with open_database() as db:
        set_disabled(db, email, False, actor=_actor())
    console.print(f"Enabled {email}.", highlight=False)


@users_app.command("set-role")
def set_role(email: Email, role: Annotated[str, typer.Option("--role", help=ROLE_HELP)]) -> None:
    """Change an account's role; its sessions end (new rights, new session)."""
    from newsletter.accounts.service import set_role as change

    with open_database() as db:
        change(db, email, role, actor=_actor())
    console.print(f"{email} is now {role.lower()}.", highlight=False)


@users_app.command("reset-password")
def reset_password(email: Email) -> None:
    """Set a new password (prompt or stdin); the account's sessions end."""
    from newsletter.accounts.service import reset_password as reset

    password = read_password("New password")
    with open_database() as db:
        reset(db, email, password, actor=_actor())
    console.print(f"New password set for {email}; its sessions have ended.", highlight=False)


@users_app.command("unlock")
def unlock(email: Email) -> None:
    """Lift a sign-in lock after too many failed attempts."""
    from newsletter.accounts.service import unlock as lift

    with open_database() as db:
        was = lift(db, email, actor=_actor())
    console.print(f"{email} unlocked." if was else f"{email} was not locked.", highlight=False)
