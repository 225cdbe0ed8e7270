-- Cross-institution: chronically absent pupils on roll in the month, and how many of them have
-- a social-services case open on its last day (spells: merged cases, 9999-12-31 while open).
-- Joined on pseudonymised keys only. (EXISTS in a WHERE, not in a CASE: PostgreSQL runs the
-- former as one semi-join and the latter once per row.)
WITH chronic AS (
    SELECT c.student_key, c.territory_code, c.period, p.period_end
    FROM calc_pupil_months c
    JOIN calc_periods p ON p.period = c.period
    WHERE c.chronic = 1
      AND c.period IN :periods  -- calc_periods may hold other indicators' months too
), with_case AS (
    SELECT c.student_key, c.period
    FROM chronic c
    WHERE EXISTS (
        SELECT 1 FROM calc_case_spells s
        WHERE s.person_key = c.student_key
          AND s.opened_date <= c.period_end AND s.closed_date > c.period_end
    )
)
SELECT c.territory_code, c.period, 'all' AS breakdown,
       COUNT(w.student_key) AS units, COUNT(w.student_key) AS numerator,
       COUNT(*) AS denominator
FROM chronic c
LEFT JOIN with_case w ON w.student_key = c.student_key AND w.period = c.period
GROUP BY c.territory_code, c.period
