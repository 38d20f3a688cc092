"""The ordering service: windows, versions, idempotency, caps, national stock, audit, receipts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from sessions_calendar.models import ProductOffer
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import Order, OrderLine
from vaccine_orders.orders.selectors import order_grid
from vaccine_orders.orders.services import OrderError, order_cancel, order_submit
from vaccine_orders.portal.models import ServiceSettings

pytestmark = pytest.mark.django_db
ACTOR = Actor(user=None, label="Claire MARTIN – RPPS 10001045367 (Pro Santé Connect)")


def submit(setup, pharmacy, quantities, *, version=0, token="jeton-de-validation-0001", at=None):
    return order_submit(
        pharmacy=pharmacy,
        session=setup.session,
        quantities=quantities,
        base_version=version,
        submission_token=token,
        actor=ACTOR,
        now=at,
    )


def test_a_valid_order_is_registered_with_a_reference_lines_and_an_audit_event(setup, pharmacy_a):
    result = submit(
        setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 5, setup.key(setup.own, setup.syringes): 3}
    )
    order = result.order
    assert result.created and not result.duplicate
    assert order.status == Order.Status.REGISTERED and order.version == 1
    assert order.reference.startswith("C") and len(order.reference) == 14
    assert sorted(order.lines.values_list("quantity_requested", flat=True)) == [3, 5]
    event = AuditEvent.objects.get(action="order.created")
    assert event.pharmacy == pharmacy_a and event.actor_label == ACTOR.label
    assert event.after["lines"][0]["quantity"] in (3, 5)


def test_the_grid_lists_only_eligible_effectors_and_open_cells(setup, pharmacy_a, pharmacy_b):
    other = factories.attached_effector(pharmacy_b, "doctor")
    grid = order_grid(pharmacy=pharmacy_a, session=setup.session)
    effector_ids = {key.effector_id for key in grid.cells}
    assert other.pk not in effector_ids
    assert setup.ehpad.pk not in effector_ids  # every product is closed to EHPAD in this session
    assert setup.key(setup.nurses, setup.az, 2) not in grid.cells  # rank 2 closed to nurses
    assert setup.key(setup.nurses, setup.az, 1) in grid.cells  # the nurses' total line
    assert setup.key(setup.occupational, setup.moderna) in grid.cells
    assert setup.key(setup.doctor, setup.moderna) not in grid.cells


def test_offers_and_their_rules_are_read_in_one_statement_an_offer_without_rules_opening_no_cell(setup, pharmacy_a):
    before = order_grid(pharmacy=pharmacy_a, session=setup.session)
    bare = factories.ProductOfferFactory(session=setup.session)  # no cap rule at all: closed to everyone
    with CaptureQueriesContext(connection) as queries:
        grid = order_grid(pharmacy=pharmacy_a, session=setup.session)
    assert len(queries) == 3  # offers with products and rules; the effectors; the order (none yet, so no line)
    assert sum("sessions_calendar_caprule" in q["sql"] for q in queries.captured_queries) == 1
    assert bare.product.pk in grid.labels.products  # read, with its product...
    assert not any(key.product_id == bare.product.pk for key in grid.cells)  # ...and no cell open
    assert grid.cells.keys() == before.cells.keys()  # every other offer keeps all its rules
    assert {key: spec.rule for key, spec in grid.cells.items()} == {k: s.rule for k, s in before.cells.items()}


def test_a_detached_or_inactive_effector_leaves_the_grid(setup, pharmacy_a):
    from django.utils import timezone

    setup.doctor.attachments.update(detached_at=timezone.now())
    setup.midwife.professional.is_active = False
    setup.midwife.professional.save()
    grid = order_grid(pharmacy=pharmacy_a, session=setup.session)
    assert {setup.doctor.pk, setup.midwife.pk}.isdisjoint(key.effector_id for key in grid.cells)


@pytest.mark.parametrize(
    ("cell", "quantity", "message"),
    [
        ("doctor-az1", 6, "Plafond dépassé"),
        ("own-az1", 6, "Plafond par officine dépassé"),
        ("occupational-moderna", 5, "boîtes entières de 10"),
        ("occupational-moderna", 20, "Plafond dépassé"),
    ],
)
def test_caps_are_enforced_and_nothing_is_written(setup, pharmacy_a, cell, quantity, message):
    keys = {
        "doctor-az1": setup.key(setup.doctor, setup.az, 1),
        "own-az1": setup.key(setup.own, setup.az, 1),
        "occupational-moderna": setup.key(setup.occupational, setup.moderna),
    }
    with pytest.raises(OrderError) as excinfo:
        submit(setup, pharmacy_a, {keys[cell]: quantity, setup.key(setup.own, setup.syringes): 1})
    assert excinfo.value.code == "invalid"
    assert message in excinfo.value.field_errors[keys[cell].field_name][0]
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert ProductOffer.objects.get(pk=setup.moderna_offer.pk).stock_taken == 0


def test_an_effector_of_another_pharmacy_or_a_closed_type_is_refused(setup, pharmacy_a, pharmacy_b):
    other = factories.attached_effector(pharmacy_b, "doctor")
    for key in (
        setup.key(other, setup.az, 1),
        setup.key(setup.ehpad, setup.syringes),
        setup.key(setup.nurses, setup.az, 2),
    ):
        with pytest.raises(OrderError) as excinfo:
            submit(setup, pharmacy_a, {key: 1})
        assert "n'est pas ouverte à la commande" in excinfo.value.errors[0]
    assert not Order.objects.exists()


def test_an_empty_order_is_refused(setup, pharmacy_a):
    with pytest.raises(OrderError, match="Votre commande est vide"):
        submit(setup, pharmacy_a, {})


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(0), timedelta(seconds=1)])
def test_the_window_is_enforced_to_the_second(setup, pharmacy_a, offset):
    closes = setup.session.closes_at
    quantities = {setup.key(setup.own, setup.syringes): 1}
    if offset < timedelta(0):
        assert submit(setup, pharmacy_a, quantities, at=closes + offset).created
    else:
        with pytest.raises(OrderError) as excinfo:
            submit(setup, pharmacy_a, quantities, at=closes + offset)
        assert excinfo.value.code == "closed"
        assert "fermée depuis le" in excinfo.value.message
        assert not Order.objects.exists()


def test_before_opening_is_refused(setup, pharmacy_a):
    with pytest.raises(OrderError) as excinfo:
        submit(
            setup,
            pharmacy_a,
            {setup.key(setup.own, setup.syringes): 1},
            at=setup.session.opens_at - timedelta(seconds=1),
        )
    assert excinfo.value.code == "not_open_yet"


def test_a_pilot_only_session_is_open_only_to_its_pilots(setup, pharmacy_a):
    group = factories.PilotGroupFactory()
    setup.session.pilot_group = group
    setup.session.save()
    with pytest.raises(OrderError, match="réservée aux officines pilotes"):
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1})
    group.pharmacies.add(pharmacy_a)
    assert submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1}).created


def test_read_only_mode_refuses_every_change(setup, pharmacy_a):
    order = submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1}).order
    ServiceSettings.objects.update_or_create(pk=1, defaults={"read_only": True, "read_only_message": "Maintenance."})
    with pytest.raises(OrderError, match="Maintenance"):
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 2}, version=1, token="autre-jeton-000000002")
    with pytest.raises(OrderError, match="Maintenance"):
        order_cancel(order=order, base_version=1, actor=ACTOR)
    assert OrderLine.objects.get().quantity_requested == 1


def test_the_service_switches_are_read_once_per_submission(setup, pharmacy_a):
    # The pilot restriction and the read-only mode live in one row: the window check reads it once.
    with CaptureQueriesContext(connection) as queries:
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1})
    reads = [q["sql"] for q in queries.captured_queries if "portal_servicesettings" in q["sql"]]
    assert len(reads) == 1, reads


def test_modifying_bumps_the_version_and_records_what_changed(setup, pharmacy_a):
    submit(setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 5, setup.key(setup.own, setup.syringes): 3})
    result = submit(
        setup,
        pharmacy_a,
        {setup.key(setup.doctor, setup.az, 1): 2, setup.key(setup.midwife, setup.janssen): 4},
        version=1,
        token="second-jeton-0000000002",
    )
    assert not result.created and result.order.version == 2
    assert dict(result.order.lines.values_list("effector_id", "quantity_requested")) == {
        setup.doctor.pk: 2,
        setup.midwife.pk: 4,
    }
    event = AuditEvent.objects.get(action="order.modified")
    assert event.before["version"] == 1 and event.after["version"] == 2
    assert len(event.before["lines"]) == 2 and len(event.after["lines"]) == 2


def test_a_stale_version_is_a_conflict_and_nothing_is_lost(setup, pharmacy_a):
    submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 3})
    submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 4}, version=1, token="onglet-un-00000000001")
    with pytest.raises(OrderError) as excinfo:  # the second tab still holds version 1
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 9}, version=1, token="onglet-deux-000000002")
    assert excinfo.value.code == "conflict" and excinfo.value.order.version == 2
    assert OrderLine.objects.get().quantity_requested == 4


def test_two_tabs_creating_at_once_register_one_order(setup, pharmacy_a):
    submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 3}, token="onglet-un-00000000001")
    with pytest.raises(OrderError) as excinfo:
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 5}, token="onglet-deux-000000002")
    assert excinfo.value.code == "conflict"
    assert Order.objects.count() == 1


def test_the_same_submission_twice_registers_one_version(
    setup, pharmacy_a, mailoutbox, django_capture_on_commit_callbacks
):
    quantities = {setup.key(setup.own, setup.syringes): 3}
    first = submit(setup, pharmacy_a, quantities, token="double-clic-000000001")
    again = submit(setup, pharmacy_a, quantities, token="double-clic-000000001")
    assert again.duplicate and again.order.pk == first.order.pk
    assert Order.objects.get().version == 1
    assert AuditEvent.objects.filter(action__startswith="order.").count() == 1


def test_national_stock_is_taken_given_back_and_never_oversold(setup, pharmacy_a, pharmacy_b):
    ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(national_stock=20)
    submit(setup, pharmacy_a, {setup.key(setup.occupational, setup.moderna): 10})
    assert ProductOffer.objects.get(pk=setup.moderna_offer.pk).stock_taken == 10

    other = build_other(pharmacy_b)
    b = submit(setup, pharmacy_b, {cell_key_for(other, setup.moderna): 10}).order
    assert ProductOffer.objects.get(pk=setup.moderna_offer.pk).stock_taken == 20

    third = factories.PharmacyFactory()
    third_doctor = factories.attached_effector(third, "occupational_doctor")
    with pytest.raises(OrderError) as excinfo:
        submit(setup, third, {cell_key_for(third_doctor, setup.moderna): 10})
    assert "le stock national est épuisé" in " ".join([excinfo.value.message, *excinfo.value.errors])
    assert not Order.objects.filter(pharmacy=third).exists()

    order_cancel(order=b, base_version=1, actor=ACTOR)  # cancelling gives the stock back
    assert ProductOffer.objects.get(pk=setup.moderna_offer.pk).stock_taken == 10
    assert submit(setup, third, {cell_key_for(third_doctor, setup.moderna): 10}).created
    offer = ProductOffer.objects.get(pk=setup.moderna_offer.pk)
    held = OrderLine.objects.filter(product=setup.moderna, order__status="registered").aggregate(
        s=Sum("quantity_requested")
    )["s"]
    assert offer.stock_taken == held == 20


def test_stock_taken_by_another_officine_after_the_check_rolls_the_whole_change_back(setup, pharmacy_a, monkeypatch):
    """The stock is taken last, after the order and its lines are written: when another officine took the
    last vials between the grid's check and that UPDATE, the refusal leaves the previous order intact."""
    from vaccine_orders.orders import services

    ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(national_stock=30)
    second = factories.attached_effector(pharmacy_a, "occupational_doctor")
    first = submit(setup, pharmacy_a, {setup.key(setup.occupational, setup.moderna): 10}).order
    events = AuditEvent.objects.count()

    def grid_then_someone_else_takes_the_rest(**kwargs):
        grid = order_grid(**kwargs)  # the check sees 20 vials left...
        ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(stock_taken=30)  # ...then they are gone
        return grid

    monkeypatch.setattr(services, "order_grid", grid_then_someone_else_takes_the_rest)
    with pytest.raises(OrderError) as excinfo:
        submit(
            setup,
            pharmacy_a,
            {
                setup.key(setup.occupational, setup.moderna): 10,
                cell_key_for(second, setup.moderna): 10,
                setup.key(setup.own, setup.syringes): 4,
            },
            version=1,
            token="hausse-0000000000001",
        )
    assert excinfo.value.code == "stock"
    assert "il reste 10 flacons pour votre officine (vous en demandez 20)" in excinfo.value.message
    first.refresh_from_db()
    assert first.version == 1 and first.submission_token == "jeton-de-validation-0001"
    assert list(first.lines.values_list("product_id", "quantity_requested")) == [(setup.moderna.pk, 10)]
    assert AuditEvent.objects.count() == events


def _transaction_ends(queries) -> list[str]:
    """How the order's transaction (a savepoint inside the test's own transaction) ended, as captured."""
    return [q["sql"].split(" ")[0] for q in queries if q["sql"].startswith(("RELEASE SAVEPOINT", "ROLLBACK"))]


def test_a_refusal_decided_before_any_write_commits_its_read_only_transaction(setup, pharmacy_a):
    """Over cap, empty, conflict: nothing was written, so the transaction (the officine's lock) is released by a
    commit. psycopg forgets every statement prepared on the connection at a ROLLBACK (next test)."""
    over_cap = {setup.key(setup.doctor, setup.az, 1): 6}
    for quantities, version, code in ((over_cap, 0, "invalid"), ({}, 0, "empty"), (over_cap, 3, "conflict")):
        with CaptureQueriesContext(connection) as queries, pytest.raises(OrderError) as excinfo:
            submit(setup, pharmacy_a, quantities, version=version)
        assert excinfo.value.code == code
        assert _transaction_ends(queries) == ["RELEASE"], [q["sql"] for q in queries]
    assert not Order.objects.exists() and not AuditEvent.objects.exists()
    order = submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1}).order
    with CaptureQueriesContext(connection) as queries, pytest.raises(OrderError) as excinfo:
        order_cancel(order=order, base_version=2, actor=ACTOR)  # cancelling from a stale page
    assert excinfo.value.code == "conflict" and _transaction_ends(queries) == ["RELEASE"]
    order.refresh_from_db()
    assert order.status == Order.Status.REGISTERED and order.lines.count() == 1


def test_a_stock_refusal_after_the_writes_still_rolls_them_back(setup, pharmacy_a, monkeypatch):
    from vaccine_orders.orders import services

    ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(national_stock=10)

    def grid_then_the_stock_is_gone(**kwargs):
        grid = order_grid(**kwargs)
        ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(stock_taken=10)
        return grid

    monkeypatch.setattr(services, "order_grid", grid_then_the_stock_is_gone)
    with CaptureQueriesContext(connection) as queries, pytest.raises(OrderError) as excinfo:
        submit(setup, pharmacy_a, {setup.key(setup.occupational, setup.moderna): 10})
    assert excinfo.value.code == "stock"
    assert _transaction_ends(queries)[0] == "ROLLBACK"  # to the savepoint (then released, as Django does)
    assert not Order.objects.exists() and not OrderLine.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.postgres
def test_on_postgresql_a_refused_validation_leaves_the_connections_prepared_statements_in_place(setup, pharmacy_a):
    """Under the opening rush four validations in ten can be refused (stock exhausted): had each refusal rolled
    back, psycopg would have deallocated every prepared statement of the connection each time."""
    for _ in range(6):  # past the prepare threshold (5): the next submissions run prepared statements
        with pytest.raises(OrderError):
            submit(setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 6})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%FOR UPDATE%"])
        assert cursor.fetchone()[0] == 1


def test_lowering_an_order_gives_stock_back(setup, pharmacy_a):
    second = factories.attached_effector(pharmacy_a, "occupational_doctor")
    submit(
        setup, pharmacy_a, {setup.key(setup.occupational, setup.moderna): 10, cell_key_for(second, setup.moderna): 10}
    )
    submit(setup, pharmacy_a, {setup.key(setup.occupational, setup.moderna): 10}, version=1, token="baisse-00000000001")
    assert ProductOffer.objects.get(pk=setup.moderna_offer.pk).stock_taken == 10


def test_cancel_and_create_again(setup, pharmacy_a):
    order = submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 3}).order
    cancelled = order_cancel(order=order, base_version=1, actor=ACTOR)
    assert cancelled.status == Order.Status.CANCELLED and cancelled.version == 2 and cancelled.cancelled_at
    assert not cancelled.lines.exists()
    with pytest.raises(OrderError, match="pas de commande enregistrée"):
        order_cancel(order=cancelled, base_version=2, actor=ACTOR)
    again = submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 2}, version=2, token="recreer-0000000001")
    assert again.created and again.order.pk == order.pk and again.order.version == 3
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "order.created",
        "order.cancelled",
        "order.created",
    ]


def test_a_cap_lowered_after_opening_does_not_rewrite_existing_orders(setup, pharmacy_a):
    from sessions_calendar.models import CapRule

    submit(setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 5})
    CapRule.objects.filter(offer__product=setup.az, effector_type__code="doctor").update(limit=2)
    assert OrderLine.objects.get().quantity_requested == 5  # kept; logistics sees it over the cap
    with pytest.raises(OrderError):  # but a modification must fit the rule now in force
        submit(
            setup,
            pharmacy_a,
            {setup.key(setup.doctor, setup.az, 1): 5, setup.key(setup.own, setup.syringes): 1},
            version=1,
            token="apres-baisse-000001",
        )


def test_the_receipt_is_sent_after_commit_in_french(
    setup, pharmacy_a, mailoutbox, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = submit(setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 5}).order
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [pharmacy_a.email]
    assert order.reference in message.subject and "enregistrée" in message.subject
    assert "ce n'est pas une confirmation de livraison" in message.body
    html = message.alternatives[0][0]
    assert "<strong>ce n'est pas une confirmation de livraison</strong>" in html
    assert "AstraZeneca" in message.body and "5 flacons" in message.body


def test_no_receipt_is_sent_for_a_rolled_back_order(
    setup, pharmacy_a, mailoutbox, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(OrderError):
        submit(setup, pharmacy_a, {setup.key(setup.doctor, setup.az, 1): 50})
    assert mailoutbox == []


def test_windows_are_checked_in_paris_time_across_dst(pharmacy_a):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.orders.conftest import build_session

    paris = ZoneInfo("Europe/Paris")
    session = factories.OrderSessionFactory(
        opens_at=datetime(2026, 10, 24, 8, tzinfo=paris), closes_at=datetime(2026, 10, 25, 23, tzinfo=paris)
    )
    setup = build_session(pharmacy_a, session)
    quantities = {setup.key(setup.own, setup.syringes): 1}
    with time_machine.travel(datetime(2026, 10, 25, 22, 59, 59, tzinfo=paris)):
        assert submit(setup, pharmacy_a, quantities).created
    with time_machine.travel(datetime(2026, 10, 25, 23, 0, 0, tzinfo=paris)), pytest.raises(OrderError):
        submit(setup, pharmacy_a, quantities, version=1, token="apres-fermeture-00001")


def build_other(pharmacy):
    return factories.attached_effector(pharmacy, "occupational_doctor")


def cell_key_for(effector, product, rank=0):
    from vaccine_orders.orders.caps import CellKey

    return CellKey(effector.pk, product.pk, rank)


def test_a_service_restricted_to_a_pilot_group_refuses_other_officines(setup, pharmacy_a):
    group = factories.PilotGroupFactory()
    ServiceSettings.objects.update_or_create(pk=1, defaults={"pilot_group": group})
    with pytest.raises(OrderError, match="réservée aux officines pilotes"):
        submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1})
    group.pharmacies.add(pharmacy_a)
    assert submit(setup, pharmacy_a, {setup.key(setup.own, setup.syringes): 1}).created
