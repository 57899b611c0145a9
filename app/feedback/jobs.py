"""The feedback area's periodic jobs (run by app/jobs.py)."""

from .service import erase_old_contacts


def erase_contacts() -> int:
    """E-mails left to be contacted back, erased after 90 days."""
    return erase_old_contacts()
