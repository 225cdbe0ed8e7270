-- Cross-institution: minors involved in police incidents in the month (one per key and
-- month, in their lowest-coded incident territory), and how many had a social-services case
-- open on the day of one of those incidents. Pseudonymised keys only.
WITH incidents AS (
    SELECT person_key, period, territory_code, occurred_date
    FROM police_incidents
    WHERE minor_involved AND person_key IS NOT NULL
      AND period IN :periods
), minors AS (
    SELECT person_key, period, MIN(territory_code) AS territory_code
    FROM incidents
    GROUP BY person_key, period
), with_case AS (
    SELECT DISTINCT i.person_key, i.period
    FROM incidents i
    JOIN calc_case_spells s ON s.person_key = i.person_key
    WHERE s.opened_date <= i.occurred_date AND s.closed_date > i.occurred_date
)
SELECT n.territory_code, n.period, 'all' AS breakdown,
       COUNT(w.person_key) AS units, COUNT(w.person_key) AS numerator, COUNT(*) AS denominator
FROM minors n
LEFT JOIN with_case w ON w.person_key = n.person_key AND w.period = n.period
GROUP BY n.territory_code, n.period
