"""What recipients do with an email after it is sent, measured first-party and privately.

Clicks through the app's own redirect, opens (only when a clinic turns them on), machine
traffic told apart from people, booked consultations attributed to a campaign and a link
(never a person), the engagement rules that suppress or pause, the preference page, and
the counters `newsletter campaign stats` reads (docs/tracking.md).

Pure rules, free of I/O and tested alone: `network` (client address, truncation),
`user_agents`, `bots` (classification and what a delivery's clicks count for),
`attribution`, `rounding`, `bounce_rules`, `preference_rules`, `link_tokens`.
Services that record and apply, owning their transactions: `recorder` (clicks, off the
request path), `event_effects` (SendGrid events), `conversions`, `calendly`, `preferences`,
`stats`, `retention`. Storage lives in `newsletter/storage/`, routes in `newsletter/web/`.
"""
