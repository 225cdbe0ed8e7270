-- Unjustified absent sessions over possible sessions, per territory of the school and month.
SELECT territory_code, period, 'all' AS breakdown,
       SUM(enrolments) AS units, SUM(unjustified_sessions) AS numerator,
       SUM(possible_sessions) AS denominator
FROM school_absence
WHERE period IN :periods
      AND student_key IS NOT NULL  -- records only: aggregate rows are not added
GROUP BY territory_code, period
