-- Social-services cases opened in the month, by referral source.
SELECT territory_code, period, referral_source AS breakdown,
       COUNT(*) AS units, COUNT(*) AS numerator
FROM social_cases
WHERE period IN :periods
GROUP BY territory_code, period, referral_source
