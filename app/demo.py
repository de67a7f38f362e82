"""A demo administration: Arabic and French names, a department tree, one user per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.deadlines import ACCESS_TO_INFORMATION, COMPLAINT, PLAIN_LETTER
from app.models import LetterType, Organisation, Role
from app.services import circuits, pki, portal_types, routing_rules
from app.services import organisations as orgs
from app.services.actor import Actor
from app.services.deadlines import rule_columns
from app.services.pki import PkiSettings

DEMO_CODE = "demo"

DEPARTMENTS = [
    # code, Arabic, French, parent code
    ("SG", "الكتابة العامة", "Secrétariat général", None),
    ("BO", "مكتب الضبط", "Bureau d'ordre", "SG"),
    ("DRH", "مديرية الموارد البشرية", "Direction des ressources humaines", "SG"),
    ("DSI", "مديرية نظم المعلومات", "Direction des systèmes d'information", "SG"),
    ("DAJ", "مديرية الشؤون القانونية", "Direction des affaires juridiques", "SG"),
    ("SRC", "مصلحة العلاقات مع المرتفقين", "Service des relations avec les usagers", "DAJ"),
]

LETTER_TYPES = [
    # code, Arabic, French, English, deadline procedure
    ("COURRIER", "مراسلة", "Courrier", "Letter", PLAIN_LETTER),
    ("PLAINTE", "شكاية", "Plainte", "Complaint", COMPLAINT),
    (
        "ACCES_INFO",
        "طلب الحصول على المعلومات",
        "Demande d'accès à l'information",
        "Access to information",
        ACCESS_TO_INFORMATION,
    ),
    ("CIRCULAIRE", "دورية", "Circulaire", "Circular", None),
]

REPLY_TEMPLATES = [
    (
        "جواب بالإيجاب",
        "ar",
        "السيد(ة) {correspondent}،\n\n"
        "جوابا على رسالتكم المسجلة بمكتب الضبط تحت رقم {number} بتاريخ {received_on} في شأن: "
        "{subject}، يشرفني أن أخبركم بأن طلبكم قد حظي بالموافقة.\n\n"
        "وتفضلوا بقبول فائق عبارات التقدير والاحترام.",
    ),
    (
        "Réponse favorable",
        "fr",
        "Madame, Monsieur {correspondent},\n\n"
        "En réponse à votre courrier enregistré sous le numéro {number} le {received_on}, "
        "relatif à : {subject}, j'ai l'honneur de vous informer que votre demande a reçu "
        "une suite favorable.\n\n"
        "Veuillez agréer, Madame, Monsieur, l'expression de ma considération distinguée.",
    ),
]

USERS = [
    # username, full name, roles, department code, locale, title (on signature stamps)
    ("admin", "Salma Bennani · سلمى بناني", [Role.ADMINISTRATOR], "SG", "fr", ""),
    ("bo.agent", "يوسف العلوي · Youssef Alaoui", [Role.REGISTRY_OFFICER], "BO", "ar", ""),
    (
        "chef.drh",
        "Karima Idrissi · كريمة الإدريسي",
        [Role.DEPARTMENT_HEAD],
        "DRH",
        "fr",
        "Directrice des ressources humaines",
    ),
    ("agent.drh", "محمد أمين التازي · Mohamed Amine Tazi", [Role.AGENT], "DRH", "ar", ""),
    (
        "sg",
        "Ahmed Chraibi · أحمد الشرايبي",
        [Role.SIGNATORY, Role.DEPARTMENT_HEAD],
        "SG",
        "fr",
        "الكاتب العام",
    ),
]
# The e-counter: what citizens may send online (code, Arabic, French, English, letter type,
# identity fields required besides the name, e-mail setting, days to reopen a complaint).
PORTAL_TYPES = [
    ("courrier", "مراسلة", "Courrier", "Letter", "COURRIER", [], "optional", None),
    ("plainte", "شكاية", "Plainte", "Complaint", "PLAINTE", ["national_id"], "optional", 30),
    (
        "acces-information",
        "طلب الحصول على المعلومات",
        "Demande d'accès à l'information",
        "Request for information",
        "ACCES_INFO",
        ["national_id"],
        "required",
        None,
    ),
]
# Complaints go straight to the users' relations service.
COMPLAINT_RULE = ("Plaintes du guichet électronique", "PLAINTE", "SRC")
# Replies of the DRH: visa by its head, then the Secretary General's signature.
REPLY_CIRCUIT = ("Réponse DRH : visa du directeur, signature du SG", "DRH", "SG")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    full_name: str
    roles: list[str]
    signing_secret: str = ""  # the demo signatory's, chosen for them here only


def demo_exists(session: Session) -> bool:
    return session.scalar(select(Organisation.id).where(Organisation.code == DEMO_CODE)) is not None


def load_demo(session: Session, pki_settings: PkiSettings | None = None) -> list[DemoLogin]:
    """Create the demo administration; passwords are random and returned once for printing.

    With ``pki_settings``, the signatory also gets a signing certificate under a random signing
    secret (a real signatory chooses their own on their account page)."""
    organisation = orgs.create_organisation(
        session,
        None,
        code=DEMO_CODE,
        name_ar="وزارة الانتقال الرقمي وإصلاح الإدارة",
        name_fr="Ministère de la Transition Numérique et de la Réforme de l'Administration",
        name_en="Ministry of Digital Transition and Administrative Reform",
    )
    departments = {}
    for code, name_ar, name_fr, parent in DEPARTMENTS:
        departments[code] = orgs.create_department(
            session,
            None,
            organisation,
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            parent=departments.get(parent),
        )
    for code, name_ar, name_fr, name_en, procedure in LETTER_TYPES:
        orgs.create_letter_type(
            session,
            None,
            organisation,
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            name_en=name_en,
            deadline_rule=rule_columns(procedure) if procedure else None,
        )
    for name, language, body in REPLY_TEMPLATES:
        orgs.create_reply_template(
            session, None, organisation, name=name, language=language, body=body
        )
    logins, users = [], {}
    for username, full_name, roles, department, locale, title in USERS:
        password = secrets.token_urlsafe(12)
        user = orgs.create_user(
            session,
            None,
            organisation,
            username=username,
            full_name=full_name,
            password=password,
            roles=roles,
            department=departments[department],
            locale=locale,
        )
        users[username] = user
        with write_transaction(session):
            user.title = title
        signing_secret = ""
        if pki_settings is not None and Role.SIGNATORY in roles:
            signing_secret = secrets.token_urlsafe(9)
            pki.enrol_signatory(
                session,
                Actor(user),
                secret=signing_secret,
                confirmation=signing_secret,
                settings=pki_settings,
            )
        logins.append(
            DemoLogin(username, password, full_name, [str(r) for r in roles], signing_secret)
        )
    name, visa_department, signing_department = REPLY_CIRCUIT
    circuits.save_template(
        session,
        Actor(users["admin"]),
        name=name,
        document_type="reply",
        steps=[
            circuits.StepInput(
                1, "visa", department_id=departments[visa_department].id, role="department_head"
            ),
            circuits.StepInput(
                2, "sign", department_id=departments[signing_department].id, role="signatory"
            ),
        ],
    )
    _demo_portal(session, Actor(users["admin"]), organisation, departments)
    return logins


def _demo_portal(session: Session, admin: Actor, organisation, departments) -> None:
    letter_types = select(LetterType).where(LetterType.organisation_id == organisation.id)
    types = {t.code: t for t in session.scalars(letter_types)}
    for position, (code, ar, fr, en, letter_type, required, email, reopen) in enumerate(
        PORTAL_TYPES
    ):
        portal_types.save_request_type(
            session,
            admin,
            None,
            code=code,
            name_ar=ar,
            name_fr=fr,
            name_en=en,
            letter_type_id=types[letter_type].id,
            required_fields=required,
            email_mode=email,
            reopen_days=reopen,
            position=position,
        )
    name, letter_type, department = COMPLAINT_RULE
    routing_rules.create_rule(
        session,
        admin,
        name=name,
        action_department_id=departments[department].id,
        letter_type_id=types[letter_type].id,
        apply_automatically=True,
    )
