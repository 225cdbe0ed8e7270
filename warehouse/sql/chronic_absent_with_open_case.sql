-- Cross-institution: of the pupils chronically absent so far this school year (absent
-- sessions >= :chronic_threshold of possible ones, year to date), how many have an open
-- social-services case at the end of the month. Joined on pseudonymised person keys.
WITH monthly AS (
    SELECT student_key, territory_code, period,
           SUM(absent_sessions) AS absent, SUM(possible_sessions) AS possible
    FROM school_absence
    WHERE student_key IS NOT NULL
      AND SUBSTR(period, 1, 4) IN (SELECT CAST(year AS VARCHAR) FROM calc_periods)
    GROUP BY student_key, territory_code, period
), year_to_date AS (
    SELECT student_key, territory_code, period,
           SUM(absent) OVER w AS absent, SUM(possible) OVER w AS possible
    FROM monthly
    WINDOW w AS (PARTITION BY student_key, territory_code, SUBSTR(period, 1, 4)
                 ORDER BY period ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), chronic AS (
    SELECT student_key, territory_code, period FROM year_to_date
    WHERE possible > 0 AND absent >= :chronic_threshold * possible
      AND period IN (SELECT period FROM calc_periods)
), with_case AS (
    SELECT DISTINCT c.student_key, c.territory_code, c.period
    FROM chronic c
    JOIN calc_periods p ON p.period = c.period
    JOIN social_cases s
      ON s.person_key = c.student_key
     AND s.opened_date <= p.period_end
     AND (s.closed_date IS NULL OR s.closed_date > p.period_end)
)
SELECT t.code AS territory_code, p.period, 'all' AS breakdown,
       (SELECT COUNT(*) FROM with_case w WHERE w.territory_code = t.code
            AND w.period = p.period) AS units,
       (SELECT COUNT(*) FROM with_case w WHERE w.territory_code = t.code
            AND w.period = p.period) AS numerator,
       (SELECT COUNT(*) FROM chronic c WHERE c.territory_code = t.code
            AND c.period = p.period) AS denominator
FROM calc_leaves t
CROSS JOIN calc_periods p
