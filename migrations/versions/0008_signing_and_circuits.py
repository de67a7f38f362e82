"""Signing certificates, revocation lists and signature circuits (the e-parapheur); a title
for users, shown on their signature stamps.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('circuit_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('document_type', sa.String(length=40), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_circuit_templates_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circuit_templates'))
    )
    with op.batch_alter_table('circuit_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_circuit_templates_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('revocation_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('this_update', sa.DateTime(), nullable=False),
    sa.Column('next_update', sa.DateTime(), nullable=False),
    sa.Column('crl_der', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_revocation_lists_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revocation_lists')),
    sa.UniqueConstraint('organisation_id', 'number', name=op.f('uq_revocation_lists_organisation_id_number'))
    )
    op.create_table('signing_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('issuer', sa.String(length=1000), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=False),
    sa.Column('certificate_der', sa.LargeBinary(), nullable=False),
    sa.Column('chain_der', sa.JSON(), nullable=False),
    sa.Column('key_storage', sa.String(length=20), nullable=False),
    sa.Column('encrypted_key', sa.LargeBinary(), nullable=True),
    sa.Column('pkcs11_token', sa.String(length=200), nullable=False),
    sa.Column('pkcs11_key_label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revocation_reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_signing_certificates_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_signing_certificates_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_certificates')),
    sa.UniqueConstraint('organisation_id', 'serial', name=op.f('uq_signing_certificates_organisation_id_serial'))
    )
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.create_index('ix_signing_certificates_owner', ['organisation_id', 'purpose', 'user_id'], unique=False)

    op.create_table('circuits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('document_type', sa.String(length=40), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=True),
    sa.Column('reply_draft_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('verification_token', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('archive_expires_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_circuits_author_id_users')),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_circuits_letter_id_letters')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_circuits_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['reply_draft_id'], ['reply_drafts.id'], name=op.f('fk_circuits_reply_draft_id_reply_drafts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circuits')),
    sa.UniqueConstraint('verification_token', name=op.f('uq_circuits_verification_token'))
    )
    with op.batch_alter_table('circuits', schema=None) as batch_op:
        batch_op.create_index('ix_circuits_author', ['organisation_id', 'author_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_circuits_letter_id'), ['letter_id'], unique=False)

    op.create_table('circuit_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('circuit_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['circuit_id'], ['circuits.id'], name=op.f('fk_circuit_versions_circuit_id_circuits')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_circuit_versions_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circuit_versions')),
    sa.UniqueConstraint('circuit_id', 'number', name=op.f('uq_circuit_versions_circuit_id_number'))
    )
    op.create_table('circuit_annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('circuit_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('x', sa.Double(), nullable=False),
    sa.Column('y', sa.Double(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_circuit_annotations_author_id_users')),
    sa.ForeignKeyConstraint(['circuit_id'], ['circuits.id'], name=op.f('fk_circuit_annotations_circuit_id_circuits')),
    sa.ForeignKeyConstraint(['version_id'], ['circuit_versions.id'], name=op.f('fk_circuit_annotations_version_id_circuit_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circuit_annotations'))
    )
    with op.batch_alter_table('circuit_annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_circuit_annotations_circuit_id'), ['circuit_id'], unique=False)

    op.create_table('circuit_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('circuit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('acted_by_id', sa.Integer(), nullable=True),
    sa.Column('acted_for_id', sa.Integer(), nullable=True),
    sa.Column('acted_at', sa.DateTime(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['acted_by_id'], ['users.id'], name=op.f('fk_circuit_steps_acted_by_id_users')),
    sa.ForeignKeyConstraint(['acted_for_id'], ['users.id'], name=op.f('fk_circuit_steps_acted_for_id_users')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_circuit_steps_assignee_id_users')),
    sa.ForeignKeyConstraint(['circuit_id'], ['circuits.id'], name=op.f('fk_circuit_steps_circuit_id_circuits')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_circuit_steps_department_id_departments')),
    sa.ForeignKeyConstraint(['version_id'], ['circuit_versions.id'], name=op.f('fk_circuit_steps_version_id_circuit_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circuit_steps'))
    )
    with op.batch_alter_table('circuit_steps', schema=None) as batch_op:
        batch_op.create_index('ix_circuit_steps_basket_department', ['department_id', 'status'], unique=False)
        batch_op.create_index('ix_circuit_steps_basket_user', ['assignee_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_circuit_steps_circuit_id'), ['circuit_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=200), nullable=False, server_default=''))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('title')

    with op.batch_alter_table('circuit_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_circuit_steps_circuit_id'))
        batch_op.drop_index('ix_circuit_steps_basket_user')
        batch_op.drop_index('ix_circuit_steps_basket_department')

    op.drop_table('circuit_steps')
    with op.batch_alter_table('circuit_annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_circuit_annotations_circuit_id'))

    op.drop_table('circuit_annotations')
    op.drop_table('circuit_versions')
    with op.batch_alter_table('circuits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_circuits_letter_id'))
        batch_op.drop_index('ix_circuits_author')

    op.drop_table('circuits')
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_certificates_owner')

    op.drop_table('signing_certificates')
    op.drop_table('revocation_lists')
    with op.batch_alter_table('circuit_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_circuit_templates_organisation_id'))

    op.drop_table('circuit_templates')
