"""Importing on-call calendars (iCalendar) as overrides.

Most cases use calendars written by real programs (Google Calendar, Exchange /
Outlook, Apple iCal, khal), trimmed and with people renamed to the synthetic
clinicians below; ``synthetic_oncall_feed.ics`` imitates an Amion/QGenda-style
feed. Sources: ``tests/fixtures/ics/README.md``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.domain.practice import Practice
from engine.domain.schedule import Clinician, ClinicianRole, CoverageGroup, CoverageRole
from engine.domain.schedule_resolution import on_call
from engine.interchange.ics_import import ImportResult, import_overrides
from tests.unit.schedule_factories import at, utc

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ics"
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")

PRACTICE = Practice(
    practice_id="p-ics",
    name="Synthetic ICS practice",
    timezone="America/New_York",
    clinicians=[
        Clinician(clinician_id="dr-rivera", display_name="Dr. Ana Rivera"),
        Clinician(clinician_id="dr-okafor", display_name="Dr. Ben Okafor"),
        Clinician(clinician_id="dr-chen", display_name="Dr. Carla Chen"),
        Clinician(
            clinician_id="np-dubois",
            display_name="Dana Dubois, NP",
            role=ClinicianRole.NURSE_PRACTITIONER,
        ),
        Clinician(clinician_id="dr-ewing", display_name="Dr. Eli Ewing"),
    ],
)


def load(
    name: str,
    start: str,
    end: str,
    role: CoverageRole = CoverageRole.PRIMARY,
    mapping: dict[str, str] | None = None,
    id_prefix: str = "ics",
) -> ImportResult:
    """Import a fixture over [start, end) given as UTC ISO text."""
    data = (FIXTURES / name).read_bytes()
    return import_overrides(data, PRACTICE, utc(start), utc(end), role, mapping, id_prefix)


def shifts(result: ImportResult) -> list[tuple[str, datetime, datetime]]:
    return [(o.clinician_id, o.start, o.end) for o in result.overrides]


def one_event(summary: str, extra: str = "", times: str = "") -> bytes:
    """A minimal calendar with one event (only for name-matching and edge cases)."""
    times = times or "DTSTART:20260310T120000Z\r\nDTEND:20260310T180000Z"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             "UID:one@example.invalid", times, f"SUMMARY:{summary}", extra, "END:VEVENT",
             "END:VCALENDAR"]  # fmt: skip
    return "\r\n".join(line for line in lines if line).encode()


def who(summary: str, extra: str = "") -> str | None:
    """Whom a one-event calendar with this summary (and extra lines) is imported for."""
    data = one_event(summary, extra)
    result = import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-04-01"))
    return result.overrides[0].clinician_id if result.overrides else None


# --- Google Calendar -----------------------------------------------------------------


def test_google_moved_instance_listed_before_its_series() -> None:
    result = load("google_moved_instance.ics", "2026-02-01", "2026-03-01")
    assert shifts(result) == [
        ("dr-rivera", utc("2026-02-10 17:00"), utc("2026-02-10 17:30")),
        ("dr-okafor", utc("2026-02-11 17:30"), utc("2026-02-11 18:00")),  # moved, reassigned
        ("dr-rivera", utc("2026-02-12 17:00"), utc("2026-02-12 17:30")),
    ]
    # The moved instance keeps the id of the slot it replaces (its RECURRENCE-ID).
    assert result.overrides[1].override_id.endswith("20260211T170000Z")
    assert result.unmatched == () and result.conflicts == ()


def test_google_biweekly_series_honours_every_exdate() -> None:
    # TZID=US/Central (legacy alias, no VTIMEZONE); EXDATEs Jul 6, 17, 20 and Aug 3.
    result = load("google_biweekly_exdate.ics", "2017-07-01", "2017-08-14")
    assert shifts(result) == [
        ("dr-rivera", utc("2017-07-03 14:00"), utc("2017-07-04 00:00")),
        ("dr-rivera", utc("2017-07-31 14:00"), utc("2017-08-01 00:00")),
    ]


def test_google_x_wr_timezone_series() -> None:
    # UTC DTSTART with X-WR-TIMEZONE: the rule runs on Kiev wall-clock time.
    result = load("google_biweekly_exdate.ics", "2017-08-14", "2017-09-01")
    assert [o.start for o in result.overrides] == [
        utc("2017-08-14 14:00"), utc("2017-08-15 14:00"),
        utc("2017-08-28 14:00"), utc("2017-08-29 14:00"),
    ]  # fmt: skip
    assert {o.clinician_id for o in result.overrides} == {"dr-okafor"}


# --- Outlook / Exchange --------------------------------------------------------------


def test_exchange_windows_zone_names_and_exdates() -> None:
    # Weekly Tu/Th/Fr/Su 12:00 "Pacific Standard Time"; Jul 21, 23 and 28 excluded.
    result = load("outlook_windows_tz.ics", "2020-07-19", "2020-08-01")
    days = [o.start.astimezone(ZoneInfo("America/Los_Angeles")).day for o in result.overrides]
    assert days == [19, 24, 26, 30, 31]
    assert {o.start.hour for o in result.overrides} == {19}  # 12:00 PDT


def test_exchange_series_crossing_the_dst_change() -> None:
    result = load("outlook_windows_tz.ics", "2020-10-29", "2020-11-04")
    starts = [o.start for o in result.overrides if o.clinician_id == "dr-okafor"]
    assert starts == [
        utc("2020-10-29 19:00"), utc("2020-10-30 19:00"),  # PDT
        utc("2020-11-01 20:00"), utc("2020-11-03 20:00"),  # PST: still 12:00 local
    ]  # fmt: skip


def test_exchange_single_events_and_unreadable_one_reported() -> None:
    result = load("outlook_windows_tz.ics", "2020-09-09", "2020-09-16")
    singles = [s for s in shifts(result) if s[0] != "dr-okafor"]
    assert singles == [
        ("np-dubois", utc("2020-09-10 07:00"), utc("2020-09-10 07:30")),  # W. Europe
        ("dr-ewing", utc("2020-09-15 15:30"), utc("2020-09-15 16:30")),  # Pacific
    ]
    # Exchange quoted the value into the TZID: reported, not dropped, not guessed.
    [broken] = result.unmatched
    assert broken.summary == "On call: Dr. Chen" and broken.start is None
    assert "DTSTART" in broken.reason


def test_outlook_eastern_standard_time_is_new_york() -> None:
    [override] = load("outlook_eastern_standard_time.ics", "2024-10-01", "2024-11-01").overrides
    assert (override.clinician_id, override.start) == ("dr-chen", utc("2024-10-28 21:00"))
    assert override.start == at("2024-10-28 17:00")


def test_outlook_display_name_zones_are_reported_not_guessed() -> None:
    result = load("outlook_owa_display_tz.ics", "2020-10-25", "2020-11-10")
    assert result.overrides == ()
    assert [u.summary for u in result.unmatched] == ["Dr. Rivera", "Dr. Okafor"]
    assert all("(UTC-05:00) Eastern Time" in u.reason for u in result.unmatched)


def test_exchange_all_day_series_with_moved_day() -> None:
    # All-day Tu/Th; Thu Feb 26 moved to Fri Feb 27 (RECURRENCE-ID is a Windows-zone time).
    result = load("outlook_allday_moved.ics", "2026-02-16", "2026-03-02")
    assert shifts(result) == [
        ("dr-rivera", at("2026-02-19 00:00"), at("2026-02-20 00:00")),
        ("dr-rivera", at("2026-02-24 00:00"), at("2026-02-25 00:00")),
        ("dr-okafor", at("2026-02-27 00:00"), at("2026-02-28 00:00")),
    ]


# --- Apple iCal, khal ------------------------------------------------------------------


def test_apple_ical_custom_vtimezone_and_legacy_zone() -> None:
    # TZID "America/New_Yrok" (sic) exists only as the file's VTIMEZONE.
    result = load("apple_ical.ics", "2011-05-01", "2011-06-01")
    assert shifts(result) == [
        ("dr-ewing", utc("2011-05-16 13:45"), utc("2011-05-16 15:00")),
        ("dr-rivera", utc("2011-05-16 15:45"), utc("2011-05-16 17:00")),
        ("dr-okafor", utc("2011-05-16 17:45"), utc("2011-05-16 18:45")),  # US/Pacific
    ]


def test_cancelled_instance_is_skipped_and_moved_one_kept() -> None:
    result = load("khal_cancelled_instance.ics", "2014-07-01", "2014-08-01")
    assert [o.start for o in result.overrides] == [
        utc("2014-07-07 07:00"),  # moved from 07:00 to 09:00 Berlin
        utc("2014-07-21 05:00"),  # Jul 14 is cancelled
        utc("2014-07-28 05:00"),
    ]
    assert result.unmatched == ()


def test_only_events_overlapping_the_range() -> None:
    assert load("khal_cancelled_instance.ics", "2014-07-15", "2014-07-21 05:00").overrides == ()
    [running] = load("khal_cancelled_instance.ics", "2014-07-21 09:00", "2014-07-22").overrides
    assert running.start == utc("2014-07-21 05:00")  # kept whole, not clipped


# --- Amion/QGenda-style feed (synthetic) ------------------------------------------------

FEED = "synthetic_oncall_feed.ics"


def test_weeknight_series_keeps_local_time_across_dst() -> None:
    result = load(FEED, "2026-03-01", "2026-03-21")
    okafor = [o.start for o in result.overrides if o.clinician_id == "dr-okafor"]
    assert okafor[:4] == [at("2026-03-02 17:00"), at("2026-03-03 17:00"),  # Mar 4: EXDATE
                          at("2026-03-05 17:00"), at("2026-03-09 17:00")]  # fmt: skip
    assert (okafor[0].hour, okafor[3].hour) == (22, 21)


def test_all_day_event_covers_local_midnights_across_dst() -> None:
    result = load(FEED, "2026-03-01", "2026-03-21")
    [weekend] = [o for o in result.overrides if o.clinician_id == "dr-rivera"]
    assert (weekend.start, weekend.end) == (utc("2026-03-07 05:00"), utc("2026-03-09 04:00"))


def test_attendee_name_and_mailto_identify_the_clinician() -> None:
    result = load(FEED, "2026-03-04", "2026-03-07")
    assert ("dr-chen", at("2026-03-04 17:00"), at("2026-03-05 08:00")) in shifts(result)
    assert ("dr-ewing", at("2026-03-06 17:00"), at("2026-03-07 00:00")) in shifts(result)


def test_moved_instance_reassigned_and_cancelled_event_skipped() -> None:
    result = load(FEED, "2026-03-11", "2026-03-15")
    assert ("dr-chen", at("2026-03-11 18:00"), at("2026-03-12 09:00")) in shifts(result)
    assert all(o.start != at("2026-03-13 17:00") or o.clinician_id != "dr-chen"
               for o in result.overrides)  # fmt: skip


def test_unmatched_events_are_reported_with_reasons() -> None:
    result = load(FEED, "2026-03-01", "2026-03-21")
    reasons = {u.summary: (u.start, u.reason) for u in result.unmatched}
    assert reasons == {
        "Locum coverage (agency)": (
            at("2026-03-10 08:00"),
            "names no clinician of the practice (summary or attendees)",
        ),
        "Drs. Rivera/Okafor": (
            at("2026-03-12 08:00"),
            "names several clinicians: dr-okafor, dr-rivera",
        ),
    }


def test_contradicting_overlaps_are_conflicts_same_person_is_not() -> None:
    [conflict] = load(FEED, "2026-03-01", "2026-03-21").conflicts
    assert conflict.clinicians == ("dr-okafor", "dr-ewing")
    assert (conflict.start, conflict.end) == (at("2026-03-16 20:00"), at("2026-03-17 02:00"))


def test_mapping_names_free_text_and_wins() -> None:
    mapping = {"locum coverage": "dr-ewing", "Drs. Rivera/Okafor": "dr-rivera"}
    result = load(FEED, "2026-03-10", "2026-03-13", mapping=mapping)
    assert result.unmatched == ()
    assert ("dr-ewing", at("2026-03-10 08:00"), at("2026-03-10 17:00")) in shifts(result)
    assert ("dr-rivera", at("2026-03-12 08:00"), at("2026-03-12 17:00")) in shifts(result)


def test_imported_overrides_decide_who_is_on_call() -> None:
    result = load(FEED, "2026-03-01", "2026-03-21", role=CoverageRole.BACKUP, id_prefix="amion")
    assert {o.role for o in result.overrides} == {CoverageRole.BACKUP}
    assert all(o.override_id.startswith("amion:") for o in result.overrides)
    peds = CoverageGroup(group_id="peds", name="Peds", overrides=list(result.overrides))
    zone = PRACTICE.zone
    assert on_call(peds, CoverageRole.BACKUP, at("2026-03-08 12:00"), zone) == ("dr-rivera",)
    assert on_call(peds, CoverageRole.BACKUP, at("2026-03-16 23:00"), zone) == ("dr-ewing",)
    assert on_call(peds, CoverageRole.PRIMARY, at("2026-03-08 12:00"), zone) == ()


# --- Names, ids, errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "summary",
    ["On Call: Dr. Rivera", "Rivera - Primary", "DR. ANA RIVERA", "Dr.Rivera", "dr-rivera",
     "Rivera, Ana MD", "Call (Rivera)"],
)  # fmt: skip
def test_summary_styles_name_the_clinician(summary: str) -> None:
    assert who(summary) == "dr-rivera"


@pytest.mark.parametrize("summary", ["Riverside clinic", "Dr. Smith", "On call", ""])
def test_summaries_naming_nobody(summary: str) -> None:
    assert who(summary) is None


def test_full_name_beats_surname_and_nurse_titles_ignored() -> None:
    assert who("Dana Dubois NP") == "np-dubois"
    assert who("Carla Chen covering for Okafor") == "dr-chen"


def test_summary_wins_over_attendees() -> None:
    attendee = "ATTENDEE;CN=Ben Okafor:mailto:b.okafor@example.invalid"
    assert who("Dr. Chen", attendee) == "dr-chen"
    assert who("Call", attendee) == "dr-okafor"


@pytest.mark.parametrize(
    ("times", "reason"),
    [
        ("DTSTART:20260310T120000Z", "the event has no duration"),
        ("DTSTART:20260310T120000Z\r\nDTEND:20260309T120000Z", "the event ends before it starts"),
        ("DTEND:20260310T120000Z", "the event has no DTSTART"),
        ("DTSTART:20260310T120000Z\r\nDTEND:20260310T130000Z\r\nRRULE:FREQ=SOMETIMES",
         "could not expand the event: "),
    ],
)  # fmt: skip
def test_broken_events_are_reported_not_dropped(times: str, reason: str) -> None:
    data = one_event("Dr. Chen", times=times)
    result = import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-04-01"))
    assert result.overrides == ()
    [unmatched] = result.unmatched
    assert unmatched.reason.startswith(reason) and unmatched.summary == "Dr. Chen"


def test_all_day_event_without_end_is_one_local_day() -> None:
    data = one_event("Dr. Chen", times="DTSTART;VALUE=DATE:20260308")
    [day] = import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-04-01")).overrides
    assert (day.start, day.end) == (at("2026-03-08 00:00"), at("2026-03-09 00:00"))  # 23 hours


def test_floating_times_are_practice_local_time() -> None:
    times = "DTSTART:20260310T170000\r\nDTEND:20260311T080000"
    data = one_event("Dr. Chen", times=times)
    [night] = import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-04-01")).overrides
    assert (night.start, night.end) == (at("2026-03-10 17:00"), at("2026-03-11 08:00"))


def test_override_ids_are_stable_unique_identifiers() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.ics"))
    for name in names:
        first = load(name, "2000-01-01", "2030-01-01")
        again = load(name, "2000-01-01", "2030-01-01")
        ids = [o.override_id for o in first.overrides]
        assert ids == [o.override_id for o in again.overrides]
        assert len(set(ids)) == len(ids)
        assert all(IDENTIFIER.match(i) and len(i) <= 128 for i in ids), name


def test_bad_arguments_raise() -> None:
    data = (FIXTURES / FEED).read_bytes()
    with pytest.raises(ValueError, match="aware"):
        import_overrides(data, PRACTICE, datetime(2026, 3, 1), utc("2026-03-02"))
    with pytest.raises(ValueError, match="non-empty"):
        import_overrides(data, PRACTICE, utc("2026-03-02"), utc("2026-03-01"))
    with pytest.raises(ValueError, match="id_prefix"):
        import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-03-02"), id_prefix="-x")
    with pytest.raises(ValueError, match="dr-nobody"):
        import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-03-02"),
                         mapping={"Locum": "dr-nobody"})  # fmt: skip
    with pytest.raises(ValueError):
        import_overrides(b"not a calendar", PRACTICE, utc("2026-03-01"), utc("2026-03-02"))


def test_line_endings_do_not_matter() -> None:
    crlf = (FIXTURES / FEED).read_bytes()
    lf = crlf.replace(b"\r\n", b"\n")
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC)
    assert import_overrides(crlf, PRACTICE, start, end) == import_overrides(
        lf, PRACTICE, start, end
    )


def test_custom_zone_of_one_file_does_not_leak_into_the_next() -> None:
    # icalendar caches VTIMEZONE definitions process-wide by TZID.
    zone = "BEGIN:VTIMEZONE\r\nTZID:Clinic Time\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
    times = "DTSTART;TZID=Clinic Time:20260310T120000\r\nDTEND;TZID=Clinic Time:20260310T130000"
    starts = []
    for offset in ("-0500", "+0300"):
        offsets = f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE"
        data = one_event("Dr. Chen", times=times).replace(
            b"BEGIN:VEVENT", f"{zone}{offsets}\r\nBEGIN:VEVENT".encode()
        )
        result = import_overrides(data, PRACTICE, utc("2026-03-01"), utc("2026-04-01"))
        starts.append(result.overrides[0].start)
    assert starts == [utc("2026-03-10 17:00"), utc("2026-03-10 09:00")]
