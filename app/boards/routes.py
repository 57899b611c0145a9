"""Board pages: create and edit (facilitators), the live board, the no-JS idea form, joining by code,
presenter mode, exports."""

from flask import Response, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..accounts.current import signed_in_user
from ..accounts.forms import ConfirmForm
from ..catalog.models import Organisation
from ..catalog.permissions import facilitated_organisations, is_facilitator
from ..errors import DomainError
from ..extensions import db, login_manager
from ..inputs import int_arg, parse_int
from ..permissions import requires
from ..workshops.models import Workshop, WorkshopStatus
from . import bp, export, service
from .forms import COLUMN_SLOTS, BoardForm, ColumnsForm, GuestForm, IdeaForm, JoinCodeForm
from .models import Board, Participant
from .sockets import guest_cookie_name


def _manageable(board_id: int) -> Board:
    board = service.get_board(board_id)
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    if not board.can_manage(current_user):
        abort(403)
    return board


def _viewer(board: Board) -> Participant | None:
    """This visitor's participant on the board: account, or the guest cookie for this board."""
    if current_user.is_authenticated:
        return service.participant_for(board, current_user)
    return service.participant_for(board, None, request.cookies.get(guest_cookie_name(board.id)))


@bp.get("/")
@login_required
def list_boards():
    me = signed_in_user()
    orgs = [o.id for o in facilitated_organisations(me)]
    managed = db.session.scalars(select(Board).where(Board.organisation_id.in_(orgs))
                                 .order_by(Board.created_at.desc())).all() if orgs else []
    joined = db.session.scalars(select(Board).join(Participant, Participant.board_id == Board.id)
                                .where(Participant.user_id == me.id, Participant.removed_at.is_(None))
                                .order_by(Board.created_at.desc())).all()
    return render_template("boards/list.html", managed=managed,
                           joined=[b for b in joined if b not in managed], code_form=JoinCodeForm())


@bp.route("/nouveau", methods=["GET", "POST"])
@requires(is_facilitator)
def create_board():
    me = signed_in_user()
    form = BoardForm()
    orgs = facilitated_organisations(me)
    form.organisation_id.choices = [SelectChoice(o.id, o.name) for o in orgs]

    workshops = db.session.scalars(select(Workshop).where(Workshop.organisation_id.in_([o.id for o in orgs]),
                                                          Workshop.status != WorkshopStatus.cancelled)
                                   .order_by(Workshop.starts_at.desc())).all()
    form.workshop_id.choices = [SelectChoice(0, _("Aucun : tableau de l'organisation"))] + [
        SelectChoice(w.id, w.title) for w in workshops]
    if request.method == "GET" and int_arg("atelier"):
        form.workshop_id.data = int_arg("atelier")
    if form.validate_on_submit():
        organisation = db.get_or_404(Organisation, form.organisation_id.data)
        workshop = db.session.get(Workshop, form.workshop_id.data) if form.workshop_id.data else None
        try:
            board = service.create_board(me, organisation, form.title.data, form.template.data, workshop=workshop,
                                         allow_guests=form.allow_guests.data)
        except DomainError as err:
            form.workshop_id.errors = [str(err.message)]
        else:
            flash(_("Le tableau est créé. Adaptez ses colonnes si besoin, puis ouvrez la séance."), "success")
            return redirect(url_for("boards.show_board", board_id=board.id))
    return render_template("boards/new.html", form=form)


@bp.route("/<int:board_id>/colonnes", methods=["GET", "POST"])
def edit_columns(board_id: int):
    board = _manageable(board_id)
    form = ColumnsForm()
    if request.method == "GET":
        for slot, column in zip(form.columns, board.columns + [None] * COLUMN_SLOTS, strict=False):
            if column is not None:
                slot.form.id.data, slot.form.title.data, slot.form.prompt.data = column.id, column.title, column.prompt
    if form.validate_on_submit():
        specs = [{"id": parse_int(c.form.id.data),
                  "title": c.form.title.data, "prompt": c.form.prompt.data or ""}
                 for c in form.columns if (c.form.title.data or "").strip()]
        if not specs:
            flash(_("Un tableau a au moins une colonne."), "error")
        else:
            try:
                service.update_columns(signed_in_user(), board, specs)
            except DomainError as err:
                flash(str(err.message), "error")
            else:
                flash(_("Les colonnes sont enregistrées."), "success")
                return redirect(url_for("boards.show_board", board_id=board.id))
    return render_template("boards/columns.html", board=board, form=form)


@bp.get("/<int:board_id>")
def show_board(board_id: int):
    board = service.get_board(board_id)
    participant = _viewer(board)
    if participant is None and current_user.is_authenticated and service.may_join(board, current_user):
        participant = service.join(board, signed_in_user())
    if participant is None:
        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login", next=request.path))
        abort(403)
    if participant.removed_at is not None:
        abort(403)
    form = IdeaForm()
    form.column_id.choices = [SelectChoice(c.id, c.title) for c in board.columns]
    return render_template("boards/board.html", board=board, participant=participant,
                           snapshot=service.snapshot(board, participant), form=form, confirm_form=ConfirmForm())


@bp.post("/<int:board_id>/idees")
def post_idea(board_id: int):
    """The plain form: posts like the live client does, so live clients see it at once."""
    board = service.get_board(board_id)
    participant = _viewer(board)
    if participant is None:
        abort(403)
    form = IdeaForm()
    form.column_id.choices = [SelectChoice(c.id, c.title) for c in board.columns]
    if form.validate_on_submit():
        try:
            service.post_idea(board.id, participant.id, column_id=form.column_id.data, text=form.text.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Votre idée est publiée."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for("boards.show_board", board_id=board.id) + "#poster")


@bp.route("/rejoindre", methods=["GET", "POST"])
def join_by_code():
    form = JoinCodeForm()
    if form.validate_on_submit():
        return redirect(url_for("boards.join_with_code", code=form.code.data.strip().upper()))
    return render_template("boards/join.html", form=form)


@bp.route("/rejoindre/<code>", methods=["GET", "POST"])
def join_with_code(code: str):
    try:
        board = service.board_by_code(code)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("boards.join_by_code"))
    if current_user.is_authenticated:
        return _confirm_join(board)
    if _viewer(board) is not None:
        return redirect(url_for("boards.show_board", board_id=board.id))
    if not board.allow_guests:
        flash(_("Connectez-vous pour rejoindre ce tableau."), "info")
        return redirect(url_for("accounts.login", next=request.path))
    form = GuestForm()
    if form.validate_on_submit():
        try:
            participant = service.join(board, None, guest_name=form.name.data, by_code=True)
        except DomainError as err:
            form.name.errors = [str(err.message)]
        else:
            response = make_response(redirect(url_for("boards.show_board", board_id=board.id)))
            response.set_cookie(guest_cookie_name(board.id), participant.guest_token, max_age=7 * 24 * 3600,
                                httponly=True, samesite="Lax", path="/",
                                secure=request.is_secure or current_app.config["SESSION_COOKIE_SECURE"])
            return response
    return render_template("boards/guest.html", board=board, form=form)


def _confirm_join(board: Board):
    """A signed-in person joins with the confirmation page's button (a POST with its CSRF token): a link opened
    from another site shows the page and changes nothing. Someone already on the board goes straight to it."""
    participant = service.participant_for(board, current_user)
    if participant is not None and participant.removed_at is None:
        return redirect(url_for("boards.show_board", board_id=board.id))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            service.join(board, signed_in_user(), by_code=True)
        except DomainError as err:
            flash(str(err.message), "error")
            return redirect(url_for("boards.join_by_code"))
        return redirect(url_for("boards.show_board", board_id=board.id))
    return render_template("boards/join_confirm.html", board=board, form=form)


@bp.get("/<int:board_id>/presentation")
def presenter(board_id: int):
    board = _manageable(board_id)
    participant = service.participant_for(board, current_user) or service.join(board, signed_in_user())
    join_url = url_for("boards.join_with_code", code=board.join_code, _external=True)
    import segno

    qr = segno.make(join_url, error="m").svg_inline(scale=8, dark="#000000", light="#ffffff", omitsize=True)
    return render_template("boards/presenter.html", board=board, snapshot=service.snapshot(board, participant),
                           join_url=join_url, qr_svg=qr)


@bp.post("/<int:board_id>/code")
def regenerate_code(board_id: int):
    board = _manageable(board_id)
    if ConfirmForm().validate_on_submit():
        service.regenerate_join_code(signed_in_user(), board)
        flash(_("Nouveau code : les anciens liens ne fonctionnent plus."), "success")
    return redirect(url_for("boards.show_board", board_id=board.id))


EXPORTS = {"csv": ("text/csv", export.as_csv), "json": ("application/json", export.as_json),
           "md": ("text/markdown", export.as_markdown)}


@bp.get("/<int:board_id>/export.<fmt>")
def export_board(board_id: int, fmt: str):
    board = _manageable(board_id)
    if fmt not in EXPORTS:
        abort(404)
    mimetype, render = EXPORTS[fmt]
    # A download, never a page: saved (attachment, nosniff from app/security.py), and if a browser shows it all
    # the same, it runs nothing and loads nothing (the page policy would allow this site's scripts).
    return Response(render(board), mimetype=f"{mimetype}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="tableau-{board.id}.{fmt}"',
                             "Content-Security-Policy": "default-src 'none'; sandbox"})
