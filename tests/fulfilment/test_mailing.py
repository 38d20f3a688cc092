"""The Friday mailing on its outbox, in process (locmem and scripted backends): who gets a message, what it
says, one SMTP connection per batch, claims, retries with backoff, permanent failures and resend."""

from __future__ import annotations

import io
import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone
from pypdf import PdfReader

from fulfilment.models import OutboxMessage
from fulfilment.selectors import publication_instant, sessions_due_for_mailing
from fulfilment.services import (
    delivery_dates_set,
    line_confirm,
    lines_confirm_as_ordered,
    mailing_dispatch,
    mailing_prepare,
    mailing_progress,
    outbox_reclaim_stale,
    outbox_resend,
    outbox_send_batch,
)
from tests import factories
from tests.fulfilment.conftest import add_order, line_of, make_session
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.portal.models import ScheduledJobRun

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
SYSTEM = Actor.system("Publipostage du vendredi")


@pytest.fixture
def mailing(published_cast, staff_actor):
    """A published session, confirmed (EHPAD reduced), with a delivery date, its outbox prepared."""
    session = published_cast.session
    lines_confirm_as_ordered(session=session, actor=staff_actor)
    line_confirm(
        line_id=line_of(published_cast, published_cast.ehpad).pk, quantity=20, reason="Stock limité", actor=staff_actor
    )
    line_confirm(
        line_id=line_of(published_cast, published_cast.doctor).pk, quantity=8, reason="Stock limité", actor=staff_actor
    )
    day = timezone.localdate() + timedelta(days=7)
    delivery_dates_set(session=session, default_date=day, regional={}, actor=staff_actor)
    published_cast.delivery_day = day
    mailing_prepare(session=session, actor=SYSTEM)
    return published_cast


def _queue_all(**kwargs) -> list[list[int]]:
    """Dispatch, capturing the batches instead of sending them to the broker."""
    from fulfilment import tasks

    batches: list[list[int]] = []
    original = tasks.send_mail_batch.delay_on_commit
    tasks.send_mail_batch.delay_on_commit = lambda ids: batches.append(ids)
    try:
        mailing_dispatch(**kwargs)
    finally:
        tasks.send_mail_batch.delay_on_commit = original
    return batches


def _send_all(**kwargs) -> None:
    for ids in _queue_all(**kwargs):
        outbox_send_batch(message_ids=ids)


# --- who ---------------------------------------------------------------------------------------------


def test_one_row_per_pharmacy_and_per_reachable_doctor_midwife_and_dentist(mailing):
    rows = OutboxMessage.objects.filter(session=mailing.session)
    assert {(row.kind, row.email) for row in rows} == {
        ("pharmacy", mailing.order.pharmacy.email),
        ("professional", "jeanne.lambert@example.org"),
        ("professional", "sage-femme@example.org"),
    }
    # The doctor without an e-mail, the nurses' total line and the EHPAD get no message of their own.
    assert all(row.status == Status.PENDING for row in rows)
    assert mailing_prepare(session=mailing.session, actor=SYSTEM) == 0  # unique keys: nothing new
    assert rows.count() == 3


def test_a_pharmacy_without_e_mail_is_listed_as_failed(pharmacy_a, staff_actor):
    pharmacy = factories.PharmacyFactory(email="")
    session = make_session("published")
    add_order(pharmacy, session, [(factories.own_effector(pharmacy), factories.ProductFactory(), 3)])
    lines_confirm_as_ordered(session=session, actor=staff_actor)
    mailing_prepare(session=session, actor=SYSTEM)
    row = OutboxMessage.objects.get(session=session)
    assert row.status == Status.FAILED
    assert row.last_error == "Aucune adresse e-mail pour cette officine."


def test_the_friday_job_takes_sessions_published_this_week_only(published_cast, pharmacy_b):
    old = factories.OrderSessionFactory(
        opens_at=timezone.now() - timedelta(days=30),
        closes_at=timezone.now() - timedelta(days=29),
        confirmation_published_at=timezone.now() - timedelta(days=28),
    )
    not_yet = make_session("closed")
    due = sessions_due_for_mailing(at=timezone.now())
    assert published_cast.session in due
    assert old not in due and not_yet not in due


# --- what ------------------------------------------------------------------------------------------------


def test_the_pharmacy_message_has_text_html_the_delivery_date_and_the_pdf(mailing):
    _send_all()
    message = next(m for m in mail.outbox if m.to == [mailing.order.pharmacy.email])
    day = mailing.delivery_day
    assert "Confirmation de livraison" in message.subject
    assert mailing.session.label_dates in message.subject
    text = message.body
    html = message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    for body in (text, html):
        assert "Date prévisionnelle de livraison" in body
        assert "à partir du lendemain" in body
        assert str(day.day) in body
        assert "Jeanne LAMBERT" in body  # its effectors' volumes too
        assert "Stock limité" in body
    assert '<html lang="fr">' in html
    assert "&#x27;" not in text  # the text part is not HTML-escaped
    name, content, mimetype = message.attachments[0]
    assert mimetype == "application/pdf"
    assert name == f"recapitulatif-commande-{mailing.order.reference}.pdf"
    pdf_text = PdfReader(io.BytesIO(content)).pages[0].extract_text()
    assert mailing.order.reference in pdf_text
    assert message.extra_headers["Message-ID"].startswith(f"<confirmation-{mailing.session.pk}-pharmacy-")


def test_a_professional_is_told_their_volumes_and_where_to_collect_them(mailing):
    _send_all()
    message = next(m for m in mail.outbox if m.to == ["jeanne.lambert@example.org"])
    pharmacy = mailing.order.pharmacy
    assert message.subject.startswith("Vos vaccins confirmés")
    for body in (message.body, message.alternatives[0][0]):
        assert "Bonjour Jeanne LAMBERT" in body
        assert pharmacy.name in body and pharmacy.address in body
        assert "8 flacons" in body and "Stock limité" in body
        assert "à partir du lendemain" in body
        assert "30 jours maximum" in body
    assert "8 flacons confirmés sur 10 demandés" in message.body
    assert "EHPAD" not in message.body  # only their own volumes
    assert message.attachments == []


def test_nothing_is_sent_before_publication(closed_cast, staff_actor):
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    mailing_prepare(session=closed_cast.session, actor=SYSTEM)
    OutboxMessage.objects.update(status=Status.QUEUED)
    outbox_send_batch(message_ids=list(OutboxMessage.objects.values_list("pk", flat=True)))
    assert mail.outbox == []
    row = OutboxMessage.objects.first()
    assert row.status == Status.PENDING
    assert row.next_attempt_at == publication_instant(session=closed_cast.session)


# --- how: claims, one connection, retries ---------------------------------------------------------------------


class CountingBackend(LocmemBackend):
    opened = 0
    refuse: dict[str, Exception] = {}

    def open(self):
        type(self).opened += 1
        return True

    def send_messages(self, messages):
        for message in messages:
            if message.to[0] in self.refuse:
                raise self.refuse[message.to[0]]
        return super().send_messages(messages)


@pytest.fixture
def counting_backend(settings):
    settings.EMAIL_BACKEND = "tests.fulfilment.test_mailing.CountingBackend"
    CountingBackend.opened = 0
    CountingBackend.refuse = {}
    return CountingBackend


def test_a_batch_is_sent_over_one_connection_and_each_row_once(mailing, counting_backend):
    batches = _queue_all()
    assert len(batches) == 1 and len(batches[0]) == 3
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.QUEUED}

    result = outbox_send_batch(message_ids=batches[0])
    assert (result.claimed, result.sent) == (3, 3)
    assert counting_backend.opened == 1
    assert len(mail.outbox) == 3

    again = outbox_send_batch(message_ids=batches[0])  # a redelivered task
    assert (again.claimed, again.sent) == (0, 0)
    assert len(mail.outbox) == 3
    assert _queue_all() == []  # the Friday job run again: nothing left to send
    assert mailing_progress(session=mailing.session)["sent"] == 3


def test_batches_respect_the_batch_size(mailing):
    assert [len(ids) for ids in _queue_all(size=2)] == [2, 1]


def test_a_transient_failure_is_retried_later_with_backoff(mailing, counting_backend, settings):
    settings.FULFILMENT_MAILING_RETRY_BASE = 60
    counting_backend.refuse = {"jeanne.lambert@example.org": smtplib.SMTPServerDisconnected("connexion perdue")}
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        _send_all()
    row = OutboxMessage.objects.get(email="jeanne.lambert@example.org")
    assert (row.status, row.attempts) == (Status.PENDING, 1)
    assert row.next_attempt_at == now + timedelta(seconds=60)
    assert "connexion perdue" in row.last_error
    assert counting_backend.opened == 2  # the lost connection was opened again for the rest of the batch
    assert len(mail.outbox) == 2

    with time_machine.travel(now + timedelta(seconds=30), tick=False):
        assert _queue_all() == []  # not due yet
    counting_backend.refuse = {"jeanne.lambert@example.org": smtplib.SMTPResponseException(451, b"Try later")}
    with time_machine.travel(now + timedelta(seconds=61), tick=False):
        _send_all()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PENDING, 2)
    assert row.next_attempt_at == now + timedelta(seconds=61 + 120)  # the 2nd retry waits twice as long

    counting_backend.refuse = {}
    with time_machine.travel(now + timedelta(hours=2), tick=False):
        _send_all()
    row.refresh_from_db()
    assert row.status == Status.SENT and row.sent_at is not None
    assert len(mail.outbox) == 3


def test_a_permanent_failure_is_listed_then_resent_on_request(mailing, counting_backend, staff_actor):
    counting_backend.refuse = {
        "sage-femme@example.org": smtplib.SMTPRecipientsRefused({"sage-femme@example.org": (550, b"No such user")})
    }
    _send_all()
    row = OutboxMessage.objects.get(email="sage-femme@example.org")
    assert row.status == Status.FAILED
    assert "550" in row.last_error

    counting_backend.refuse = {}
    from fulfilment import tasks

    tasks_called = []
    original = tasks.mailing_sweep.delay_on_commit
    tasks.mailing_sweep.delay_on_commit = lambda: tasks_called.append(True)
    try:
        assert outbox_resend(message_ids=[row.pk], actor=staff_actor) == 1
    finally:
        tasks.mailing_sweep.delay_on_commit = original
    assert tasks_called == [True]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PENDING, 0)
    assert AuditEvent.objects.get(action="fulfilment.mail_resent").pharmacy_id == mailing.order.pharmacy_id
    _send_all()
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_transient_failures_give_up_after_the_last_attempt(mailing, counting_backend, settings):
    settings.FULFILMENT_MAILING_MAX_ATTEMPTS = 2
    counting_backend.refuse = {"sage-femme@example.org": smtplib.SMTPResponseException(421, b"Busy")}
    now = timezone.now()
    for step in range(3):
        with time_machine.travel(now + timedelta(hours=step), tick=False):
            _send_all()
    row = OutboxMessage.objects.get(email="sage-femme@example.org")
    assert row.status == Status.FAILED
    assert row.last_error.startswith("Échec après 2 tentatives")


def test_rows_of_a_dead_worker_are_taken_back_after_the_claim_timeout(mailing, settings):
    settings.FULFILMENT_MAILING_CLAIM_TIMEOUT = 600
    now = timezone.now()
    OutboxMessage.objects.update(status=Status.SENDING, claimed_at=now - timedelta(minutes=5), attempts=1)
    assert outbox_reclaim_stale(at=now) == (0, 0)  # still within the claim timeout: maybe alive
    assert outbox_reclaim_stale(at=now + timedelta(minutes=6)) == (3, 0)
    row = OutboxMessage.objects.first()
    assert (row.status, row.reclaims) == (Status.PENDING, 1)


def test_a_lost_batch_task_is_queued_again_after_the_queue_timeout(mailing, settings):
    settings.FULFILMENT_MAILING_QUEUE_TIMEOUT = 3600
    now = timezone.now()
    first = _queue_all(at=now)
    assert len(first) == 1
    assert _queue_all(at=now + timedelta(minutes=10)) == []
    assert len(_queue_all(at=now + timedelta(hours=2))) == 1
    # The lost task turning up late finds its rows claimed by nobody and sends them once.
    outbox_send_batch(message_ids=first[0])
    assert len(mail.outbox) == 3


def test_the_friday_task_prepares_sends_and_sends_nothing_the_second_time(
    mailing, run_tasks, django_capture_on_commit_callbacks
):
    from fulfilment.tasks import friday_mailing

    OutboxMessage.objects.all().delete()
    from fulfilment.models import SessionFulfilment

    SessionFulfilment.objects.update(mailing_prepared_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        friday_mailing()
    assert len(mail.outbox) == 3
    run = ScheduledJobRun.objects.get(name="friday_mailing")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert run.last_summary.startswith("3 message(s) préparé(s)")

    with django_capture_on_commit_callbacks(execute=True):
        friday_mailing()
    assert len(mail.outbox) == 3
    assert ScheduledJobRun.objects.get(name="friday_mailing").last_summary.startswith("0 message(s)")


def test_a_message_that_can_no_longer_be_written_fails_permanently(mailing):
    from vaccine_orders.orders.models import Order

    Order.objects.filter(pk=mailing.order.pk).update(status=Order.Status.CANCELLED, cancelled_at=timezone.now())
    _send_all()
    failures = dict(OutboxMessage.objects.filter(status=Status.FAILED).values_list("kind", "last_error"))
    assert failures == {
        "pharmacy": "La commande de l'officine n'existe plus (annulée).",
        "professional": "Plus aucune quantité confirmée pour ce professionnel.",
    }
    assert mail.outbox == []


def test_a_batch_reads_its_data_in_a_bounded_number_of_queries(mailing, django_assert_max_num_queries):
    from fulfilment.services import summary_render

    summary_render(order_id=mailing.order.pk)  # rendered at publication, as on a real Friday
    ids = _queue_all()[0]
    # Claim, read the rows, the batch's data (a few queries), then one UPDATE per message sent.
    with django_assert_max_num_queries(12 + len(ids)):
        assert outbox_send_batch(message_ids=ids).sent == 3
