"""Year groups of England's school system, by name: the thresholds every rule about age uses.

Why named: a bare `11` in a rule could be a year group, a month or a count; written as `YEAR_11` it
says which, and a search finds every rule that depends on where compulsory schooling ends. A
child's `year_group` is 0 in Reception and rises each September (13 = Year 13, the last year a
young person is on roll; plans can continue to 25, which the model does not follow).
"""

from __future__ import annotations

RECEPTION = 0
YEAR_6 = 6  # last year of primary school
YEAR_7 = 7  # first year of secondary school: the primary-to-secondary transfer
YEAR_11 = 11  # last year of compulsory schooling: "pupils" are Reception to Year 11
YEAR_12 = 12  # first post-16 year: education, training or NEET
YEAR_13 = 13  # last year on roll
KS2_YEAR = YEAR_6  # key stage 2 tests (July)
KS4_YEAR = YEAR_11  # GCSEs (July)

YEAR_GROUPS = YEAR_13 + 1  # Reception .. Year 13
CENSUS_YEAR_GROUPS = YEAR_11 + 1  # Reception .. Year 11: the pupils every per-pupil rate refers to
PRIMARY_YEAR_GROUPS = YEAR_6 + 1  # Reception .. Year 6
SECONDARY_YEAR_GROUPS = YEAR_11 - YEAR_7 + 1  # Year 7 .. Year 11
