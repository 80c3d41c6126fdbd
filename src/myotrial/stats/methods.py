"""One vocabulary of statistical method names (style guide item 6).

Every estimator and test in :mod:`myotrial.stats` takes or records a *method key* from
:data:`METHODS`; a report footnote is generated from the same key as the number it annotates
(:func:`method_footnote`). An unknown key raises :class:`ValueError` listing the valid keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "METHODS",
    "MethodInfo",
    "get_method",
    "method_footnote",
    "methods_table",
    "validate_method",
]


@dataclass(frozen=True)
class MethodInfo:
    """Registry entry for one method key.

    Attributes
    ----------
    key : str
        Machine name, e.g. ``"wald"``.
    family : str
        What the method produces: ``risk_difference``, ``odds_ratio``, ``test``,
        ``mean_difference``, ``survival``, ``interaction``, ``proportion``, ``hazard_ratio``,
        ``model_check``, ``multiplicity`` or ``missing_data``.
    label : str
        Short human label for tables and footnotes.
    description : str
        What is computed, in one or two sentences.
    reference : str
        Primary reference with DOI (or a stable identifier where no DOI exists).
    r_equivalent : str
        The same computation in R.
    sas_equivalent : str
        The same computation in SAS.
    """

    key: str
    family: str
    label: str
    description: str
    reference: str
    r_equivalent: str
    sas_equivalent: str


_NEWCOMBE_1998 = (
    "Newcombe RG. Interval estimation for the difference between independent proportions: "
    "comparison of eleven methods. Stat Med 1998;17:873-90. "
    "doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I"
)
_MH_1959 = (
    "Mantel N, Haenszel W. Statistical aspects of the analysis of data from retrospective "
    "studies of disease. J Natl Cancer Inst 1959;22:719-48. doi:10.1093/jnci/22.4.719"
)

_ENTRIES = (
    MethodInfo(
        "wald",
        "risk_difference",
        "Wald",
        "Risk difference p1 - p2 with the Wald (normal approximation, unpooled) interval "
        "d +/- z * sqrt(p1(1-p1)/n1 + p2(1-p2)/n2).",
        _NEWCOMBE_1998 + " (method 1)",
        "by hand; tern::prop_diff_wald(correct = FALSE)",
        "PROC FREQ / RISKDIFF(CL=WALD)",
    ),
    MethodInfo(
        "newcombe",
        "risk_difference",
        "Newcombe hybrid score",
        "Risk difference with Newcombe's hybrid score interval built from the two Wilson "
        "score intervals (method 10), no continuity correction.",
        _NEWCOMBE_1998 + " (method 10)",
        "tern::prop_diff_nc(correct = FALSE); DescTools::BinomDiffCI(method = 'score')",
        "PROC FREQ / RISKDIFF(CL=NEWCOMBE)",
    ),
    MethodInfo(
        "miettinen_nurminen",
        "risk_difference",
        "Miettinen-Nurminen score",
        "Risk difference with the Miettinen-Nurminen score interval: inversion of the score "
        "test with the restricted maximum-likelihood variance and the N/(N-1) factor.",
        "Miettinen O, Nurminen M. Comparative analysis of two rates. Stat Med 1985;4:213-26. "
        "doi:10.1002/sim.4780040211",
        "DescTools::BinomDiffCI(method = 'mn'); PropCIs::diffscoreci",
        "PROC FREQ / RISKDIFF(CL=MN)",
    ),
    MethodInfo(
        "mh_sato",
        "risk_difference",
        "Mantel-Haenszel (Sato variance)",
        "Stratified Mantel-Haenszel weighted risk difference, weights n1*n2/N per stratum, "
        "Wald interval with the Sato variance estimator (consistent in sparse and large-strata "
        "limits).",
        "Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up "
        "data. Biometrics 1985;41:55-68. doi:10.2307/2530643; Sato T, Greenland S, Robins JM. "
        "On the variance estimator for the Mantel-Haenszel risk difference. Biometrics "
        "1989;45:1323-4. JSTOR 2531784",
        "epiR::epi.2by2(method = 'cohort.count')$massoc.detail$ARisk.mh.sato; "
        "metafor::rma.mh(measure = 'RD')",
        "PROC FREQ / RISKDIFF(CL=MH COMMONRISKDIFF)",
    ),
    MethodInfo(
        "strat_newcombe",
        "risk_difference",
        "Stratified Newcombe (CMH weights)",
        "Stratified Newcombe interval of Yan & Su: stratified Wilson limits per arm (per-stratum "
        "Wilson intervals at an adjusted critical value, combined with weights) combined as in "
        "Newcombe's hybrid method; weights n1*n2/(n1+n2) normalised (tern 'cmh' weights).",
        "Yan X, Su XG. Stratified Wilson and Newcombe confidence intervals for multiple "
        "binomial proportions. Stat Biopharm Res 2010;2:329-35. doi:10.1198/sbr.2009.0049",
        "tern::prop_diff_strat_nc(weights_method = 'cmh', correct = FALSE)",
        "PROC FREQ / COMMONRISKDIFF(CL=NEWCOMBE) (agreement not checked)",
    ),
    MethodInfo(
        "woolf",
        "odds_ratio",
        "Odds ratio (Woolf logit)",
        "Sample odds ratio with the Woolf (logit) interval exp(log OR +/- z*sqrt(sum 1/cell)); "
        "0.5 is added to every cell when any cell is zero (Haldane-Anscombe).",
        "Woolf B. On estimating the relation between blood group and disease. Ann Hum Genet "
        "1955;19:251-3. doi:10.1111/j.1469-1809.1955.tb01348.x",
        "epiR::epi.2by2()$massoc.detail$OR.strata.wald",
        "PROC FREQ / RELRISK (Case-Control odds ratio, Wald CL)",
    ),
    MethodInfo(
        "mh_or",
        "odds_ratio",
        "Mantel-Haenszel odds ratio",
        "Mantel-Haenszel common odds ratio with the Robins-Breslow-Greenland variance of its log.",
        _MH_1959 + "; Robins J, Breslow N, Greenland S. Estimators of the Mantel-Haenszel "
        "variance consistent in both sparse data and large-strata limiting models. Biometrics "
        "1986;42:311-23. doi:10.2307/2531052",
        "stats::mantelhaen.test()$estimate, $conf.int",
        "PROC FREQ / CMH (common odds ratio, Mantel-Haenszel)",
    ),
    MethodInfo(
        "fisher",
        "test",
        "Fisher exact test",
        "Fisher's exact test of independence in a 2x2 table (two-sided p: sum of tables no more "
        "probable than the observed one).",
        "Fisher RA. On the interpretation of chi-square from contingency tables, and the "
        "calculation of P. J R Stat Soc 1922;85:87-94. doi:10.2307/2340521",
        "stats::fisher.test()",
        "PROC FREQ / FISHER",
    ),
    MethodInfo(
        "chisq",
        "test",
        "Pearson chi-square test",
        "Pearson chi-square test of independence in a 2x2 table, 1 df, no continuity correction.",
        "Pearson K. On the criterion that a given system of deviations ... Philos Mag "
        "1900;50:157-75. doi:10.1080/14786440009463897",
        "stats::chisq.test(correct = FALSE)",
        "PROC FREQ / CHISQ (Pearson)",
    ),
    MethodInfo(
        "chisq_yates",
        "test",
        "Chi-square test with Yates correction",
        "Pearson chi-square test of a 2x2 table with Yates' continuity correction.",
        "Yates F. Contingency tables involving small numbers and the chi-square test. Suppl J R "
        "Stat Soc 1934;1:217-35. doi:10.2307/2983604",
        "stats::chisq.test(correct = TRUE)",
        "PROC FREQ / CHISQ (Continuity Adj. Chi-Square)",
    ),
    MethodInfo(
        "cmh",
        "test",
        "Cochran-Mantel-Haenszel test",
        "Cochran-Mantel-Haenszel test of conditional independence across strata of 2x2 tables, "
        "1 df, hypergeometric variance; optional continuity correction of 0.5, applied only "
        "when |sum(O - E)| >= 0.5 (as R's mantelhaen.test).",
        _MH_1959 + "; Cochran WG. Some methods for strengthening the common chi-square tests. "
        "Biometrics 1954;10:417-51. doi:10.2307/3001616",
        "stats::mantelhaen.test(correct = FALSE)",
        "PROC FREQ / CMH (General Association / Nonzero Correlation, 2x2xK)",
    ),
    MethodInfo(
        "pooled_t",
        "mean_difference",
        "Two-sample t (pooled variance)",
        "Difference in means with the Student t interval and test using the pooled variance, "
        "df = n1 + n2 - 2.",
        "Student. The probable error of a mean. Biometrika 1908;6:1-25. doi:10.1093/biomet/6.1.1",
        "stats::t.test(var.equal = TRUE)",
        "PROC TTEST (Pooled)",
    ),
    MethodInfo(
        "welch",
        "mean_difference",
        "Welch t",
        "Difference in means with the Welch unequal-variance t interval and test, "
        "Welch-Satterthwaite df.",
        "Welch BL. The generalization of 'Student's' problem when several different population "
        "variances are involved. Biometrika 1947;34:28-35. doi:10.1093/biomet/34.1-2.28",
        "stats::t.test(var.equal = FALSE)",
        "PROC TTEST (Satterthwaite)",
    ),
    MethodInfo(
        "ancova",
        "mean_difference",
        "ANCOVA (baseline-adjusted)",
        "Treatment effect from ordinary least squares outcome ~ arm + baseline [+ strata]; "
        "t interval and test on the residual df.",
        "Vickers AJ, Altman DG. Analysing controlled trials with baseline and follow up "
        "measurements. BMJ 2001;323:1123-4. doi:10.1136/bmj.323.7321.1123",
        "stats::lm(outcome ~ arm + baseline + strata); confint()",
        "PROC GLM / MODEL outcome = arm baseline strata; LSMEANS arm / DIFF CL",
    ),
    MethodInfo(
        "km_loglog",
        "survival",
        "Kaplan-Meier, log-log CI",
        "Kaplan-Meier survival function; pointwise CI from the Greenwood variance on the "
        "complementary log-log scale; median with the Brookmeyer-Crowley-type CI read off the "
        "pointwise limits (R survival convention).",
        "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat "
        "Assoc 1958;53:457-81. doi:10.1080/01621459.1958.10501452; Brookmeyer R, Crowley J. A "
        "confidence interval for the median survival time. Biometrics 1982;38:29-41. "
        "doi:10.2307/2530286",
        "survival::survfit(conf.type = 'log-log'); quantile()",
        "PROC LIFETEST (CONFTYPE=LOGLOG)",
    ),
    MethodInfo(
        "logrank",
        "test",
        "Log-rank test",
        "Two-sample log-rank (Mantel-Cox) test, hypergeometric variance, 1 df.",
        "Peto R, Peto J. Asymptotically efficient rank invariant test procedures. J R Stat Soc "
        "A 1972;135:185-207. doi:10.2307/2344317",
        "survival::survdiff(rho = 0)",
        "PROC LIFETEST / STRATA (Log-Rank)",
    ),
    MethodInfo(
        "logistic_lrt",
        "interaction",
        "Logistic interaction LRT",
        "Treatment-by-subgroup interaction: likelihood-ratio test comparing logistic models "
        "responder ~ arm * subgroup and responder ~ arm + subgroup; df = levels - 1.",
        "Wang R, Lagakos SW, Ware JH, Hunter DJ, Drazen JM. Statistics in medicine - reporting "
        "of subgroup analyses in clinical trials. N Engl J Med 2007;357:2189-94. "
        "doi:10.1056/NEJMsr077003",
        "anova(glm(y ~ arm + g, binomial), glm(y ~ arm * g, binomial), test = 'LRT')",
        "PROC LOGISTIC (difference of -2 log L between the two models)",
    ),
)

_COX_1972 = (
    "Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34:187-220. "
    "doi:10.1111/j.2517-6161.1972.tb00899.x"
)
_HOLM_1979 = (
    "Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat "
    "1979;6:65-70. JSTOR 4615733"
)
_RUBIN_1987 = (
    "Rubin DB. Multiple Imputation for Nonresponse in Surveys. New York: Wiley; 1987. "
    "doi:10.1002/9780470316696"
)

# Methods added for the statistical analysis plan (issue 13).
_SAP_ENTRIES = (
    MethodInfo(
        "clopper_pearson",
        "proportion",
        "Clopper-Pearson exact",
        "Proportion x/n with the Clopper-Pearson exact interval (beta quantiles; inversion of "
        "two one-sided binomial tests at alpha/2 each).",
        "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the "
        "case of the binomial. Biometrika 1934;26:404-13. doi:10.1093/biomet/26.4.404",
        "stats::binom.test(x, n)$conf.int",
        "PROC FREQ / BINOMIAL(CL=EXACT)",
    ),
    MethodInfo(
        "chan_zhang",
        "risk_difference",
        "Exact unconditional (Chan-Zhang score)",
        "Risk difference with the exact unconditional tail-method interval: two one-sided exact "
        "tests ordered by the score statistic with restricted-MLE variance, p-values maximised "
        "over the nuisance proportion, each at alpha/2; p-value from the same tests at 0.",
        "Chan ISF, Zhang Z. Test-based exact confidence intervals for the difference of two "
        "binomial proportions. Biometrics 1999;55:1202-9. doi:10.1111/j.0006-341X.1999.01202.x",
        "exact2x2::uncondExact2x2(method = 'score') (CRAN, not in Debian; not run)",
        "PROC FREQ / EXACT RISKDIFF(METHOD=SCORE)",
    ),
    MethodInfo(
        "santner_snell",
        "risk_difference",
        "Exact unconditional (Santner-Snell)",
        "Risk difference with the exact unconditional tail-method interval ordered by the "
        "unstandardised difference p1 - p2 (nuisance proportion maximised).",
        "Santner TJ, Snell MK. Small-sample confidence intervals for p1 - p2 and p1/p2 in 2 x 2 "
        "contingency tables. J Am Stat Assoc 1980;75:386-94. doi:10.1080/01621459.1980.10477482",
        "tern::prop_diff_uncond_exact()",
        "PROC FREQ / EXACT RISKDIFF(METHOD=NOSCORE)",
    ),
    MethodInfo(
        "mn_score_test",
        "risk_difference",
        "Miettinen-Nurminen score interval and test",
        "Risk difference with the Miettinen-Nurminen score interval paired with the score test "
        "it inverts (at delta = 0: (N-1)/N times Pearson's chi-square), so the interval excludes "
        "0 exactly when p < 1 - conf_level.",
        "Miettinen O, Nurminen M. Comparative analysis of two rates. Stat Med 1985;4:213-26. "
        "doi:10.1002/sim.4780040211",
        "DescTools::BinomDiffCI(method = 'mn'); chisq.test(correct = FALSE)$statistic * (N-1)/N",
        "PROC FREQ / RISKDIFF(CL=MN) with CMH (1 stratum) test",
    ),
    MethodInfo(
        "logrank_strat",
        "test",
        "Stratified log-rank test",
        "Two-sample log-rank test stratified by a factor: observed minus expected events and "
        "hypergeometric variances computed within strata and summed, 1 df.",
        "Peto R, Peto J. Asymptotically efficient rank invariant test procedures. J R Stat Soc "
        "A 1972;135:185-207. doi:10.2307/2344317",
        "survival::survdiff(Surv(time, event) ~ group + strata(s))",
        "PROC LIFETEST / STRATA s / GROUP=group (Log-Rank)",
    ),
    MethodInfo(
        "cox_efron",
        "hazard_ratio",
        "Cox model (Efron ties)",
        "Cox proportional-hazards partial likelihood maximised by Newton-Raphson, Efron "
        "approximation for tied event times, optional strata (separate baseline hazards); "
        "hazard ratio exp(beta) with Wald CI; Wald, score and likelihood-ratio tests.",
        _COX_1972 + "; Efron B. The efficiency of Cox's likelihood function for censored data. "
        "J Am Stat Assoc 1977;72:557-65. doi:10.1080/01621459.1977.10480613",
        "survival::coxph(Surv(time, event) ~ arm + strata(s), ties = 'efron')",
        "PROC PHREG / MODEL time*event(0) = arm / TIES=EFRON RL; STRATA s",
    ),
    MethodInfo(
        "cox_breslow",
        "hazard_ratio",
        "Cox model (Breslow ties)",
        "Cox proportional-hazards partial likelihood maximised by Newton-Raphson, Breslow "
        "approximation for tied event times, optional strata; hazard ratio exp(beta) with Wald "
        "CI; Wald, score and likelihood-ratio tests.",
        _COX_1972 + "; Breslow N. Covariance analysis of censored survival data. Biometrics "
        "1974;30:89-99. doi:10.2307/2529620",
        "survival::coxph(Surv(time, event) ~ arm + strata(s), ties = 'breslow')",
        "PROC PHREG / MODEL time*event(0) = arm / TIES=BRESLOW RL; STRATA s",
    ),
    MethodInfo(
        "cox_zph",
        "model_check",
        "Proportional-hazards test (Schoenfeld residuals)",
        "Score test of beta(t) = beta + theta g(t) per covariate and globally, g = 1 - KM(t-) "
        "centred at its mean over events (transform 'km'), at the fitted Cox coefficients, as "
        "survival::cox.zph in survival >= 3.0; not estimable (reason given, no error) where "
        "cox.zph stops on a singular system, e.g. every event at one time.",
        "Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted "
        "residuals. Biometrika 1994;81:515-26. doi:10.1093/biomet/81.3.515",
        "survival::cox.zph(fit, transform = 'km')",
        "PROC PHREG / ASSESS PH (a different, resampling-based check)",
    ),
    MethodInfo(
        "mmrm_us",
        "mean_difference",
        "MMRM, unstructured covariance (REML)",
        "Mixed model for repeated measures fitted by GLS/REML: visit + treatment-by-visit fixed "
        "effects with baseline (and baseline-by-visit) covariate, or without one for an outcome "
        "that is itself a change score (baseline=None), unstructured within-patient "
        "covariance; per-visit treatment differences with t intervals on the residual df "
        "N - p (as nlme::gls); observed visits only (missing at random).",
        "Mallinckrodt CH, Lane PW, Schnell D, Peng Y, Mancuso JP. Recommendations for the "
        "primary analysis of continuous endpoints in longitudinal clinical trials. Drug Inf J "
        "2008;42:303-19. doi:10.1177/009286150804200402",
        "nlme::gls(y ~ visit + visit:arm + base + base:visit (or y ~ visit + visit:arm), "
        "correlation = corSymm(form = ~ t | id), weights = varIdent(form = ~ 1 | visit), "
        "method = 'REML')",
        "PROC MIXED / REPEATED visit / SUBJECT=id TYPE=UN; LSMEANS arm*visit / DIFF (DDFM=RES)",
    ),
    MethodInfo(
        "fixed_sequence",
        "multiplicity",
        "Fixed-sequence (hierarchical) testing",
        "Hypotheses tested in a pre-specified order, each at the full alpha, until the first "
        "non-rejection; later hypotheses are not tested. Adjusted p = running maximum.",
        "Maurer W, Hothorn LA, Lehmacher W. Multiple comparisons in drug clinical trials and "
        "preclinical assays: a-priori ordered hypotheses. In: Vollmar J (ed). Biometrie in der "
        "chemisch-pharmazeutischen Industrie 6. Stuttgart: Fischer; 1995:3-18 (no DOI); "
        "Westfall PH, Krishen A. J Stat Plan Inference 2001;99:25-40. "
        "doi:10.1016/S0378-3758(01)00077-5",
        "cummax(p) in the pre-specified order",
        "PROC MULTTEST (no built-in; DATA step running maximum)",
    ),
    MethodInfo(
        "holm",
        "multiplicity",
        "Holm step-down",
        "Holm's step-down Bonferroni procedure: the k-th smallest p is compared with "
        "alpha/(m - k + 1) until the first non-rejection; adjusted p as stats::p.adjust.",
        _HOLM_1979,
        "stats::p.adjust(p, method = 'holm')",
        "PROC MULTTEST / STEPBON (Holm)",
    ),
    MethodInfo(
        "hochberg",
        "multiplicity",
        "Hochberg step-up",
        "Hochberg's step-up procedure: reject all hypotheses with p <= p_(k) for the largest k "
        "with p_(k) <= alpha/(m - k + 1); adjusted p as stats::p.adjust. Valid under "
        "independence or positive dependence (Simes).",
        "Hochberg Y. A sharper Bonferroni procedure for multiple tests of significance. "
        "Biometrika 1988;75:800-2. doi:10.1093/biomet/75.4.800",
        "stats::p.adjust(p, method = 'hochberg')",
        "PROC MULTTEST / HOCHBERG",
    ),
    MethodInfo(
        "bounded_tis",
        "missing_data",
        "Bounded TIS",
        "Missing core set measures: the lowest (missing measure 0 points) and highest (missing "
        "measure its maximum points) achievable TIS; response is decided only when both bounds "
        "fall on the same side of the threshold, otherwise undetermined.",
        "Aggarwal R, Rider LG, Ruperto N, et al. 2016 ACR/EULAR criteria for minimal, moderate, "
        "and major clinical response in adult dermatomyositis and polymyositis. Arthritis "
        "Rheumatol 2017;69:898-910. doi:10.1002/art.40064 (points table); bounds: project rule",
        "rowSums(points, na.rm = TRUE) and + max points of missing slots",
        "DATA step (SUM of present points; plus maxima of missing)",
    ),
    MethodInfo(
        "mi_rubin",
        "risk_difference",
        "Multiple imputation (chained equations, Rubin's rules)",
        "Missing values imputed m times by chained equations with predictive mean matching, "
        "separately by arm and seeded, constant and collinear predictors left out per imputed "
        "variable as mice's remove.lindep (logged); the risk difference and its Wald variance "
        "per completed data set pooled by Rubin's rules, t interval with Barnard-Rubin df.",
        _RUBIN_1987 + "; van Buuren S, Groothuis-Oudshoorn K. mice: Multivariate imputation by "
        "chained equations in R. J Stat Softw 2011;45(3):1-67. doi:10.18637/jss.v045.i03; "
        "Barnard J, Rubin DB. Biometrika 1999;86:948-55. doi:10.1093/biomet/86.4.948",
        "mice::mice(method = 'pmm') by arm; mice::pool.scalar(Q, U, n = dfcom + 1)",
        "PROC MI (FCS REGPMM) by arm; PROC MIANALYZE",
    ),
    MethodInfo(
        "tipping_point",
        "missing_data",
        "Tipping-point analysis",
        "Missing binary outcomes imputed as responders in every possible number per arm, or on "
        "a grid of imputed response rates 0, step, ..., 1 per arm (responders = floor(rate x "
        "missing + 1/2)); the risk difference and p-value per cell of the grid, and the cells "
        "where the conclusion (p < alpha) changes.",
        "Yan X, Lee S, Li N. Missing data handling methods in medical device clinical trials. "
        "J Biopharm Stat 2009;19:1085-98. doi:10.1080/10543400903243009",
        "by hand: a loop over imputed responders per arm",
        "DATA step loop + PROC FREQ",
    ),
)

#: Registry: method key -> :class:`MethodInfo`.
METHODS: dict[str, MethodInfo] = {m.key: m for m in (*_ENTRIES, *_SAP_ENTRIES)}


def validate_method(
    method: str, allowed: Iterable[str] | None = None, *, argument: str = "method"
) -> MethodInfo:
    """Return the registry entry for ``method``, or raise a ValueError listing the valid keys.

    Parameters
    ----------
    method : str
        Method key.
    allowed : iterable of str, optional
        Keys accepted by the calling function (default: every registered key).
    argument : str
        Argument name used in the error message.
    """
    valid = list(METHODS) if allowed is None else list(allowed)
    if not isinstance(method, str) or method not in valid:
        raise ValueError(
            f"{argument}={method!r} is not a valid method here; valid keys: {', '.join(valid)}"
        )
    return METHODS[method]


def get_method(key: str) -> MethodInfo:
    """Registry entry for ``key`` (ValueError listing the valid keys if unknown)."""
    return validate_method(key, argument="key")


def method_footnote(key: str, conf_level: float | None = None) -> str:
    """Footnote text for a method key, e.g. for a table under a reported estimate."""
    info = get_method(key)
    level = f"{conf_level:.0%} CI, " if conf_level is not None else ""
    return f"{level}{info.label}: {info.description} Reference: {info.reference}."


def methods_table() -> pd.DataFrame:
    """All registered methods as a frame (key, family, label, description, reference, R, SAS)."""
    return pd.DataFrame(
        [
            {
                "key": m.key,
                "family": m.family,
                "label": m.label,
                "description": m.description,
                "reference": m.reference,
                "r_equivalent": m.r_equivalent,
                "sas_equivalent": m.sas_equivalent,
            }
            for m in METHODS.values()
        ]
    )
