-- Absent sessions over possible sessions, per territory of the school and month.
WITH sessions AS (
    SELECT territory_code, period, SUM(absent_sessions) AS absent,
           SUM(possible_sessions) AS possible, SUM(enrolments) AS pupils
    FROM school_absence
    WHERE period IN (SELECT period FROM calc_periods)
    GROUP BY territory_code, period
)
SELECT t.code AS territory_code, p.period, 'all' AS breakdown,
       COALESCE(s.pupils, 0) AS units,
       s.absent AS numerator,
       s.possible AS denominator
FROM calc_leaves t
CROSS JOIN calc_periods p
LEFT JOIN sessions s ON s.territory_code = t.code AND s.period = p.period
