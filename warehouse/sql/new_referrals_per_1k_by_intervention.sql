-- Social-services cases opened in the month, by intervention type.
SELECT territory_code, period, intervention_type AS breakdown,
       COUNT(*) AS units, COUNT(*) AS numerator
FROM social_cases
WHERE period IN :periods
      AND "count" IS NULL  -- records only: aggregate rows are not added
GROUP BY territory_code, period, intervention_type
