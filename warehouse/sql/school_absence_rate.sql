-- Absent sessions over possible sessions, per territory of the school and month.
SELECT territory_code, period, 'all' AS breakdown,
       SUM(enrolments) AS units, SUM(absent_sessions) AS numerator,
       SUM(possible_sessions) AS denominator
FROM school_absence
WHERE period IN :periods
GROUP BY territory_code, period
