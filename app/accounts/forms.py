"""Account forms (Flask-WTF: CSRF on every one)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length

PASSWORD_MIN = 12


def _password(label, hint=True):
    validators = [
        InputRequired(message=_l("Saisissez un mot de passe.")),
        Length(min=PASSWORD_MIN, max=128,
               message=_l("Le mot de passe doit faire entre %(min)d et %(max)d caractères.",
                          min=PASSWORD_MIN, max=128)),
    ]
    description = _l("Au moins %(min)d caractères. Une phrase de plusieurs mots est facile à retenir.",
                     min=PASSWORD_MIN) if hint else ""
    return PasswordField(label, validators=validators, description=description,
                         render_kw={"autocomplete": "new-password"})


def _password_confirm(label):
    return PasswordField(
        label,
        validators=[InputRequired(message=_l("Confirmez le mot de passe.")),
                    EqualTo("password", message=_l("Les deux mots de passe ne sont pas identiques."))],
        render_kw={"autocomplete": "new-password"},
    )


def _current_password():
    return PasswordField(
        _l("Mot de passe actuel"), validators=[InputRequired(message=_l("Saisissez votre mot de passe actuel."))],
        render_kw={"autocomplete": "current-password"})


def _email(label=None):
    return EmailField(
        label or _l("Adresse électronique"),
        validators=[
            DataRequired(message=_l("Saisissez votre adresse électronique.")),
            Email(message=_l("Saisissez une adresse électronique valide, par exemple nom@exemple.fr."),
                  check_deliverability=False),
            Length(max=254, message=_l("L'adresse électronique est trop longue.")),
        ],
        description=_l("Format attendu : nom@exemple.fr"),
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


def _display_name():
    return StringField(
        _l("Nom affiché"),
        validators=[DataRequired(message=_l("Saisissez le nom qui sera affiché.")),
                    Length(min=2, max=80, message=_l("Le nom affiché doit faire entre 2 et 80 caractères."))],
        description=_l("Il apparaît à côté de vos contributions. Un prénom ou un pseudonyme suffit."),
        render_kw={"autocomplete": "nickname"},
    )


class RegisterForm(FlaskForm):
    email = _email()
    display_name = _display_name()
    password = _password(_l("Mot de passe"))
    password_confirm = _password_confirm(_l("Confirmez le mot de passe"))
    accept_terms = BooleanField(
        _l("J'ai lu les conditions d'utilisation et la politique de confidentialité, et je les accepte."),
        validators=[DataRequired(message=_l("Vous devez accepter les conditions d'utilisation pour créer "
                                            "un compte."))],
    )
    submit = SubmitField(_l("Créer mon compte"))


class LoginForm(FlaskForm):
    email = _email()
    password = PasswordField(_l("Mot de passe"),
                             validators=[InputRequired(message=_l("Saisissez votre mot de passe."))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Rester connecté·e sur cet appareil (14 jours)"))
    submit = SubmitField(_l("Se connecter"))


class ForgotPasswordForm(FlaskForm):
    email = _email()
    submit = SubmitField(_l("Recevoir un lien de réinitialisation"))


class ResetPasswordForm(FlaskForm):
    password = _password(_l("Nouveau mot de passe"))
    password_confirm = _password_confirm(_l("Confirmez le nouveau mot de passe"))
    submit = SubmitField(_l("Enregistrer le nouveau mot de passe"))


class ChangePasswordForm(FlaskForm):
    current_password = _current_password()
    password = _password(_l("Nouveau mot de passe"))
    password_confirm = _password_confirm(_l("Confirmez le nouveau mot de passe"))
    submit = SubmitField(_l("Changer de mot de passe"))


class ChangeEmailForm(FlaskForm):
    new_email = _email(_l("Nouvelle adresse électronique"))
    current_password = _current_password()
    submit = SubmitField(_l("Changer d'adresse"))


class ProfileForm(FlaskForm):
    display_name = _display_name()
    submit = SubmitField(_l("Enregistrer"))


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        _l("Mot de passe"), validators=[InputRequired(message=_l("Saisissez votre mot de passe."))],
        render_kw={"autocomplete": "current-password"})
    confirm = BooleanField(
        _l("Je comprends que mon compte sera supprimé définitivement."),
        validators=[DataRequired(message=_l("Cochez la case pour confirmer la suppression."))])
    submit = SubmitField(_l("Supprimer mon compte"))


class ConfirmForm(FlaskForm):
    """A bare form for one-button actions (CSRF only)."""

    submit = SubmitField(_l("Confirmer"))
