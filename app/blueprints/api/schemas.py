"""The API's request and response schemas: the OpenAPI document is generated from them, and every
response is dumped through them, so what is sent is what is documented."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from app.blueprints.api.problems import CODES
from app.models import Channel, LetterStatus, Priority, Register

REGISTERS = [r.value for r in Register]


class UtcDateTime(fields.DateTime):
    """Times are stored as naive UTC; they leave with their offset (RFC 3339)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


STATUSES = [s.value for s in LetterStatus]


ID_RANGE = validate.Range(min=1, max=2**31 - 1)  # no row has another id (and SQL ints overflow)


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(
        required=True,
        validate=validate.OneOf(list(CODES)),
        metadata={"description": "Stable error code"},
    )
    instance = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Field errors, by location and field"})


# -- letters ---------------------------------------------------------------------------------------


class VersionSchema(ma.Schema):
    version = fields.Integer(required=True)
    media_type = fields.String(required=True)
    size = fields.Integer(required=True)
    page_count = fields.Integer(allow_none=True, required=True)
    original_sha256 = fields.String(required=True)
    pdf_sha256 = fields.String(allow_none=True, required=True)


class DocumentSchema(ma.Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    current = fields.Nested(VersionSchema, required=True)
    content_url = fields.String(required=True)


class AssignmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    department_id = fields.Integer(required=True)
    department = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["action", "copy"]))
    state = fields.String(required=True)
    agent = fields.String(allow_none=True, required=True)
    routed_at = UtcDateTime(required=True)
    due_on = fields.Date(allow_none=True, required=True)


class LetterSummarySchema(ma.Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True)
    register = fields.String(required=True, validate=validate.OneOf(REGISTERS))
    subject = fields.String(required=True)
    status = fields.String(required=True)
    channel = fields.String(required=True)
    priority = fields.String(required=True)
    confidential = fields.Boolean(required=True)
    registered_at = UtcDateTime(required=True)
    due_on = fields.Date(allow_none=True, required=True)
    correspondent = fields.String(allow_none=True, required=True)
    url = fields.String(required=True)


class LetterSchema(LetterSummarySchema):
    sender_reference = fields.String(required=True)
    letter_date = fields.Date(allow_none=True, required=True)
    received_on = fields.Date(allow_none=True, required=True)
    letter_type_id = fields.Integer(allow_none=True, required=True)
    language = fields.String(required=True)
    physical_attachments = fields.Integer(required=True)
    reply_to_id = fields.Integer(allow_none=True, required=True)
    outcome = fields.String(required=True)
    closed_at = UtcDateTime(allow_none=True, required=True)
    documents = fields.List(fields.Nested(DocumentSchema), required=True)
    assignments = fields.List(fields.Nested(AssignmentSchema), required=True)


class LetterPageSchema(ma.Schema):
    items = fields.List(fields.Nested(LetterSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class LetterListQuerySchema(StrictSchema):
    register = fields.String(load_default="incoming", validate=validate.OneOf(REGISTERS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class NewCorrespondentSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(load_default="person", validate=validate.OneOf(["person", "organisation"]))
    national_id = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    address = fields.String(load_default="", validate=validate.Length(max=500))


class LetterMetadataSchema(StrictSchema):
    """The JSON in the `metadata` part of POST /letters."""

    register = fields.String(required=True, validate=validate.OneOf(REGISTERS))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    channel = fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    received_on = fields.Date(allow_none=True, load_default=None)
    letter_date = fields.Date(allow_none=True, load_default=None)
    sender_reference = fields.String(load_default="", validate=validate.Length(max=120))
    letter_type_id = fields.Integer(allow_none=True, load_default=None, validate=ID_RANGE)
    priority = fields.String(
        load_default=Priority.NORMAL.value, validate=validate.OneOf([p.value for p in Priority])
    )
    confidential = fields.Boolean(load_default=False)
    language = fields.String(
        load_default="ar", validate=validate.OneOf(["ar", "fr", "en", "other"])
    )
    physical_attachments = fields.Integer(load_default=0, validate=validate.Range(min=0, max=999))
    correspondent_id = fields.Integer(allow_none=True, load_default=None, validate=ID_RANGE)
    new_correspondent = fields.Nested(NewCorrespondentSchema, allow_none=True, load_default=None)


class LetterFormSchema(ma.Schema):
    metadata = fields.String(
        required=True,
        metadata={"description": "The letter's metadata as JSON (schema LetterMetadata)"},
    )


class DocumentContentQuerySchema(StrictSchema):
    rendition = fields.String(load_default="original", validate=validate.OneOf(["original", "pdf"]))


class HistoryEventSchema(ma.Schema):
    seq = fields.Integer(required=True)
    occurred_at = UtcDateTime(required=True)
    action = fields.String(required=True)
    actor = fields.String(required=True)
    on_behalf_of = fields.String(allow_none=True, required=True)
    data = fields.Dict(required=True)


class RouteSchema(StrictSchema):
    action_department_id = fields.Integer(required=True, validate=ID_RANGE)
    copy_department_ids = fields.List(
        fields.Integer(validate=ID_RANGE), load_default=list, validate=validate.Length(max=100)
    )


class NoteCreateSchema(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    department_only = fields.Boolean(load_default=False)


class NoteSchema(ma.Schema):
    id = fields.Integer(required=True)
    author = fields.String(required=True)
    body = fields.String(required=True)
    department_only = fields.Boolean(required=True)
    created_at = UtcDateTime(required=True)


# -- inboxes ---------------------------------------------------------------------------------------

TABS = ["new", "in_progress", "due_soon", "overdue", "copies"]


class InboxCountsSchema(ma.Schema):
    new = fields.Integer(required=True)
    in_progress = fields.Integer(required=True)
    due_soon = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    copies = fields.Integer(required=True)


class QueueSchema(ma.Schema):
    owner_id = fields.Integer(required=True, metadata={"description": "Whose queue (a user id)"})
    owner = fields.String(required=True)
    department_id = fields.Integer(required=True)
    delegated = fields.Boolean(required=True)
    counts = fields.Nested(InboxCountsSchema, required=True)
    url = fields.String(required=True)


class InboxQuerySchema(StrictSchema):
    tab = fields.String(validate=validate.OneOf(TABS))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InboxItemSchema(ma.Schema):
    assignment_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    state = fields.String(required=True)
    agent = fields.String(allow_none=True, required=True)
    due_on = fields.Date(allow_none=True, required=True)
    letter = fields.Nested(LetterSummarySchema, required=True)


class InboxPageSchema(ma.Schema):
    owner_id = fields.Integer(required=True)
    tab = fields.String(required=True)
    counts = fields.Nested(InboxCountsSchema, required=True)
    items = fields.List(fields.Nested(InboxItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# -- search ----------------------------------------------------------------------------------------


class SearchQuerySchema(StrictSchema):
    q = fields.String(load_default="", validate=validate.Length(max=500))
    register = fields.String(validate=validate.OneOf(REGISTERS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    department_id = fields.Integer(validate=ID_RANGE)
    letter_type_id = fields.Integer(validate=ID_RANGE)
    date_from = fields.Date()
    date_to = fields.Date()
    sort = fields.String(load_default="relevance", validate=validate.OneOf(["relevance", "date"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=500))


class SearchHitSchema(ma.Schema):
    letter = fields.Nested(LetterSummarySchema, required=True)
    highlights = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class SearchResultSchema(ma.Schema):
    total = fields.Integer(required=True)
    total_estimated = fields.Boolean(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    hits = fields.List(fields.Nested(SearchHitSchema), required=True)
    facets = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        required=True,
    )


# -- portal ----------------------------------------------------------------------------------------


class PortalSubmissionSchema(StrictSchema):
    request_type = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    message = fields.String(required=True, validate=validate.Length(min=1, max=20_000))
    national_id = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    address = fields.String(load_default="", validate=validate.Length(max=500))
    locale = fields.String(load_default="ar", validate=validate.OneOf(["ar", "fr", "en"]))


class PortalFormSchema(ma.Schema):
    submission = fields.String(
        required=True,
        metadata={"description": "The request as JSON (schema PortalSubmission)"},
    )


class PortalReceiptSchema(ma.Schema):
    number = fields.String(required=True)
    tracking_code = fields.String(required=True)
    submission_id = fields.String(required=True)
    receipt_url = fields.String(required=True)
    tracking_url = fields.String(required=True)


class TrackQuerySchema(StrictSchema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=60))
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class TrackStepSchema(ma.Schema):
    at = UtcDateTime(required=True)
    kind = fields.String(required=True)
    number = fields.String(required=True)
    department = fields.String(required=True)
    reason = fields.String(required=True)
    outcome = fields.String(required=True)


class TrackResultSchema(ma.Schema):
    number = fields.String(required=True)
    status = fields.String(required=True)
    registered_at = UtcDateTime(required=True)
    due_on = fields.Date(allow_none=True, required=True)
    steps = fields.List(fields.Nested(TrackStepSchema), required=True)


# -- validation ------------------------------------------------------------------------------------


class SignatureReportSchema(ma.Schema):
    field = fields.String(required=True)
    signer = fields.String(required=True)
    signing_time = fields.String(allow_none=True, required=True)
    level = fields.String(allow_none=True, required=True)
    verdict = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True)
    reason_texts = fields.List(fields.String(), required=True)


class ValidationReportSchema(ma.Schema):
    verdict = fields.String(
        required=True,
        validate=validate.OneOf(["VALID", "REVIEW", "INVALID", "INDETERMINATE", "UNSIGNED"]),
    )
    sentence = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True)
    sha256 = fields.String(required=True)
    pages = fields.Integer(allow_none=True, required=True)
    signatures = fields.List(fields.Nested(SignatureReportSchema), required=True)
