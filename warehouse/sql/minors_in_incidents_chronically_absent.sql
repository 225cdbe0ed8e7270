-- Cross-institution: minors involved in police incidents in the month (one per key and
-- month, in their lowest-coded incident territory), and how many are chronically absent in
-- the school year to date as of their latest school month up to then: a chronic month whose
-- next school month (if any) comes after the incident month. Pseudonymised keys only.
WITH minors AS (
    SELECT person_key, period, MIN(territory_code) AS territory_code
    FROM police_incidents
    WHERE minor_involved AND person_key IS NOT NULL
      AND period IN :periods
    GROUP BY person_key, period
), chronic AS (
    SELECT n.person_key, n.period
    FROM minors n
    WHERE EXISTS (
        SELECT 1 FROM calc_pupil_months c
        WHERE c.student_key = n.person_key AND c.chronic = 1
          AND c.year = CAST(SUBSTR(n.period, 1, 4) AS INTEGER)
          AND c.period <= n.period
          AND (c.next_period IS NULL OR c.next_period > n.period)
          -- Implied by the line above; as a constant it skips the earlier months' rows.
          AND (c.next_period IS NULL OR c.next_period > :first_period)
    )
)
SELECT n.territory_code, n.period, 'all' AS breakdown,
       COUNT(c.person_key) AS units, COUNT(c.person_key) AS numerator, COUNT(*) AS denominator
FROM minors n
LEFT JOIN chronic c ON c.person_key = n.person_key AND c.period = n.period
GROUP BY n.territory_code, n.period
