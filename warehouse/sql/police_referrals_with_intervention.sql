-- Cross-institution: police referrals (a minor with a pseudonymised key involved in an
-- incident: one per key and day, in the lowest-coded territory of that day) and how many of
-- them had a social-services case open at some time in the :referral_window_days days that
-- follow. Joined on pseudonymised keys only.
WITH referrals AS (
    SELECT person_key, occurred_date, period, MIN(territory_code) AS territory_code
    FROM police_incidents
    WHERE minor_involved AND person_key IS NOT NULL
      AND period IN :periods
    GROUP BY person_key, occurred_date, period
), attended AS (
    SELECT r.person_key, r.occurred_date
    FROM referrals r
    WHERE EXISTS (
        SELECT 1 FROM calc_case_spells s
        WHERE s.person_key = r.person_key
          AND s.opened_date <= r.occurred_date + CAST(:referral_window_days AS INTEGER)
          AND s.closed_date >= r.occurred_date
    )
)
SELECT r.territory_code, r.period, 'all' AS breakdown,
       COUNT(a.person_key) AS units, COUNT(a.person_key) AS numerator, COUNT(*) AS denominator
FROM referrals r
LEFT JOIN attended a ON a.person_key = r.person_key AND a.occurred_date = r.occurred_date
GROUP BY r.territory_code, r.period
