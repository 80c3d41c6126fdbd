# Reference values for myotrial.stats, written as CSV fixtures under tests/fixtures/r/.
#
# Run from the repository root:
#   Rscript scripts/r/stats_fixtures.R
# Needs Debian's r-base-core, r-cran-epir, r-cran-survival and r-cran-metafor
# (apt-get install -y r-base-core r-cran-epir r-cran-survival r-cran-metafor).
# CI does not run R: the tests only read the committed CSVs.
#
# Oracles, per fixture file:
#   binary_2x2.csv        Wald and Newcombe hybrid score: by hand from the formulas (Wilson limits
#                         from stats::prop.test(correct = FALSE)); Miettinen-Nurminen: by hand
#                         (score-test inversion with the closed-form restricted MLE, uniroot);
#                         stats::fisher.test; stats::chisq.test(correct = FALSE / TRUE).
#   stratified.csv        epiR::epi.2by2(method = "cohort.count")$massoc.detail$ARisk.mh.sato
#                         (epiR:::zMHRD.Sato = Sato 1989 variance; cross-checked below against
#                         metafor::rma.mh(measure = "RD") and a hand computation);
#                         stats::mantelhaen.test(correct = FALSE / TRUE) for the CMH test and the
#                         Mantel-Haenszel odds ratio with its Robins-Breslow-Greenland CI;
#                         stratified Newcombe: tern is not packaged for Debian, so the CI is a
#                         line-by-line transcription of tern::prop_diff_strat_nc (weights "cmh")
#                         and tern::prop_strat_wilson (Yan & Su 2010) in base R.
#   continuous_*.csv      stats::t.test(var.equal = TRUE / FALSE); stats::lm for ANCOVA.
#   km_*.csv, logrank.csv survival::survfit(conf.type = "log-log"), quantile(), survdiff(rho = 0).
#   subgroup_*.csv        stats::glm(binomial) + anova(test = "LRT") for the interaction test.

suppressPackageStartupMessages({
  library(epiR)
  library(survival)
  library(metafor)
})

out_dir <- file.path("tests", "fixtures", "r")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
write_fixture <- function(df, name) {
  path <- file.path(out_dir, name)
  # write.csv keeps 15 significant digits: enough for the 1e-6 tolerance of the tests
  utils::write.csv(df, path, row.names = FALSE, na = "")
  message("wrote ", path)
}
z975 <- qnorm(0.975)

# ---------------------------------------------------------------------------------------------
# 1. Unstratified 2x2: x1/n1 (treatment) vs x2/n2 (control); difference p1 - p2
# ---------------------------------------------------------------------------------------------
cases <- data.frame(
  case = c("proderm_tis20", "proderm_tis40", "proderm_tis60", "both_zero", "one_zero",
           "all_responders_one_arm", "small", "both_all", "moderate", "negative"),
  x1 = c(37, 32, 15, 0, 0, 10, 1, 20, 45, 5),
  n1 = c(47, 47, 47, 20, 15, 10, 5, 20, 100, 30),
  x2 = c(21, 11, 4, 0, 5, 3, 0, 20, 30, 12),
  n2 = c(48, 48, 48, 20, 15, 12, 7, 20, 100, 28)
)

wilson <- function(x, n) {
  if (n == 0) return(c(NA, NA))
  as.numeric(suppressWarnings(prop.test(x, n, correct = FALSE, conf.level = 0.95)$conf.int))
}

# Miettinen-Nurminen: restricted MLE of (p1, p2) under p1 - p2 = delta (closed form of
# Miettinen & Nurminen 1985 / Farrington & Manning 1990), variance with the N / (N - 1) factor.
mn_stat <- function(delta, x1, n1, x2, n2) {
  p1 <- x1 / n1; p2 <- x2 / n2; N <- n1 + n2
  theta <- n2 / n1
  a <- 1 + theta
  b <- -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
  c <- delta^2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
  d <- -p1 * delta * (1 + delta)
  v <- b^3 / (3 * a)^3 - b * c / (6 * a^2) + d / (2 * a)
  u <- sign(v) * sqrt(max(0, b^2 / (3 * a)^2 - c / (3 * a)))
  ratio <- if (u == 0) 0 else v / u^3
  w <- (pi + acos(min(1, max(-1, ratio)))) / 3
  pt1 <- 2 * u * cos(w) - b / (3 * a)
  pt2 <- pt1 - delta
  var <- (pt1 * (1 - pt1) / n1 + pt2 * (1 - pt2) / n2) * N / (N - 1)
  if (abs(p1 - p2 - delta) < 1e-15) return(0)
  (p1 - p2 - delta)^2 / var
}
mn_ci <- function(x1, n1, x2, n2, conf = 0.95) {
  d0 <- x1 / n1 - x2 / n2
  q <- qchisq(conf, 1)
  f <- function(delta) mn_stat(delta, x1, n1, x2, n2) - q
  eps <- 1e-10
  lower <- if (d0 <= -1 + eps || f(-1 + eps) < 0) -1 else
    uniroot(f, c(-1 + eps, d0), tol = 1e-13)$root
  upper <- if (d0 >= 1 - eps || f(1 - eps) < 0) 1 else
    uniroot(f, c(d0, 1 - eps), tol = 1e-13)$root
  c(lower, upper)
}

bin_rows <- lapply(seq_len(nrow(cases)), function(i) {
  x1 <- cases$x1[i]; n1 <- cases$n1[i]; x2 <- cases$x2[i]; n2 <- cases$n2[i]
  p1 <- x1 / n1; p2 <- x2 / n2; d <- p1 - p2
  se <- sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
  w1 <- wilson(x1, n1); w2 <- wilson(x2, n2)
  # Newcombe (1998) method 10, hybrid score
  nc_l <- d - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2)
  nc_u <- d + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2)
  mn <- mn_ci(x1, n1, x2, n2)
  tab <- matrix(c(x1, n1 - x1, x2, n2 - x2), nrow = 2, byrow = TRUE)
  fisher_p <- fisher.test(tab)$p.value
  cs <- suppressWarnings(chisq.test(tab, correct = FALSE))
  csy <- suppressWarnings(chisq.test(tab, correct = TRUE))
  data.frame(cases[i, ], estimate = d,
             wald_lower = d - z975 * se, wald_upper = d + z975 * se,
             newcombe_lower = nc_l, newcombe_upper = nc_u,
             mn_lower = mn[1], mn_upper = mn[2],
             fisher_p = fisher_p,
             chisq_stat = unname(cs$statistic), chisq_p = cs$p.value,
             chisq_yates_stat = unname(csy$statistic), chisq_yates_p = csy$p.value)
})
write_fixture(do.call(rbind, bin_rows), "binary_2x2.csv")

# ---------------------------------------------------------------------------------------------
# 2. Stratified 2x2xK tables
# ---------------------------------------------------------------------------------------------
strat <- rbind(
  data.frame(case = "three_strata", stratum = c("mild", "moderate", "severe"),
             x1 = c(12, 20, 5), n1 = c(14, 27, 6), x2 = c(8, 11, 2), n2 = c(13, 28, 7)),
  data.frame(case = "zero_cells", stratum = c("s1", "s2", "s3", "s4"),
             x1 = c(0, 6, 9, 3), n1 = c(8, 10, 9, 12), x2 = c(0, 2, 4, 0), n2 = c(9, 11, 10, 11)),
  data.frame(case = "one_stratum", stratum = "all",
             x1 = 37, n1 = 47, x2 = 21, n2 = 48),
  data.frame(case = "unbalanced", stratum = c("a", "b", "c", "d", "e"),
             x1 = c(3, 15, 1, 30, 7), n1 = c(5, 40, 4, 60, 9),
             x2 = c(1, 9, 2, 18, 6), n2 = c(6, 35, 5, 66, 12))
)

# Stratified Wilson (tern::prop_strat_wilson, fixed weights, correct = FALSE)
strat_wilson <- function(x, n, w, conf = 0.95) {
  ests <- x / n
  vars <- ests * (1 - ests) / n
  # tern::strata_normal_quantile
  zq <- sqrt(sum(w^2 * vars)) / sum(sqrt(w^2 * vars)) * qnorm((1 + conf) / 2)
  strata_conf <- 2 * pnorm(zq) - 1
  ci <- sapply(seq_along(x), function(i)
    suppressWarnings(prop.test(x[i], n[i], correct = FALSE, conf.level = strata_conf)$conf.int))
  c(sum(w * ci[1, ]), sum(w * ci[2, ]))
}
# tern::prop_diff_strat_nc(weights_method = "cmh"), difference treatment - control
strat_newcombe <- function(x1, n1, x2, n2, conf = 0.95) {
  w <- n1 * n2 / (n1 + n2); w <- w / sum(w)
  ci_trt <- strat_wilson(x1, n1, w, conf); ci_ref <- strat_wilson(x2, n2, w, conf)
  d <- sum(w * x1 / n1) - sum(w * x2 / n2)
  lam_trt <- sum(w^2 / n1); lam_ref <- sum(w^2 / n2)
  z <- qnorm((1 + conf) / 2)
  c(d, d - z * sqrt(lam_trt * ci_trt[1] * (1 - ci_trt[1]) + lam_ref * ci_ref[2] * (1 - ci_ref[2])),
    d + z * sqrt(lam_ref * ci_ref[1] * (1 - ci_ref[1]) + lam_trt * ci_trt[2] * (1 - ci_trt[2])))
}
# Sato (1989) variance by hand, for the cross-check of epiR
sato_hand <- function(a, n1, c, n0) {
  N <- n1 + n0
  W <- sum(n1 * n0 / N)
  rd <- sum((a * n0 - c * n1) / N) / W
  P <- sum((n1^2 * c - n0^2 * a + n1 * n0 * (n0 - n1) / 2) / N^2)
  Q <- sum((a * (n0 - c) + c * (n1 - a)) / (2 * N))
  c(rd, sqrt((rd * P + Q) / W^2))
}

strat_rows <- lapply(split(strat, factor(strat$case, levels = unique(strat$case))), function(s) {
  k <- nrow(s)
  arr <- array(0, dim = c(2, 2, k))  # rows: treatment, control; cols: responder, non-responder
  for (j in seq_len(k)) {
    arr[, , j] <- matrix(c(s$x1[j], s$n1[j] - s$x1[j], s$x2[j], s$n2[j] - s$x2[j]),
                         nrow = 2, byrow = TRUE)
  }
  hand <- sato_hand(s$x1, s$n1, s$x2, s$n2)
  mf <- suppressWarnings(rma.mh(ai = s$x1, n1i = s$n1, ci = s$x2, n2i = s$n2, measure = "RD"))
  stopifnot(abs(as.numeric(mf$beta) - hand[1]) < 1e-12, abs(mf$se - hand[2]) < 1e-12)
  # epi.2by2 stops (inside its chisq.test) when a stratum has no responders at all; the MH
  # estimate then comes from metafor::rma.mh, which agrees with the hand computation above.
  ep <- tryCatch(epi.2by2(as.table(arr), method = "cohort.count", conf.level = 0.95),
                 error = function(e) NULL)
  if (!is.null(ep)) {
    sato <- ep$massoc.detail$ARisk.mh.sato  # in percent (units = 100)
    stopifnot(abs(sato$est / 100 - hand[1]) < 1e-12,
              abs((sato$upper - sato$est) / 100 - z975 * hand[2]) < 1e-12)
    sato <- sato / 100
    mh_oracle <- "epiR::epi.2by2 ARisk.mh.sato"
  } else {
    sato <- data.frame(est = as.numeric(mf$beta), lower = mf$ci.lb, upper = mf$ci.ub)
    mh_oracle <- "metafor::rma.mh(measure = 'RD')"
  }
  sn <- strat_newcombe(s$x1, s$n1, s$x2, s$n2)
  if (k > 1) {
    mh <- mantelhaen.test(arr, correct = FALSE)
    mhc <- mantelhaen.test(arr, correct = TRUE)
    cmh <- c(unname(mh$statistic), mh$p.value, unname(mhc$statistic), mhc$p.value,
             unname(mh$estimate), mh$conf.int)
  } else {
    cmh <- rep(NA, 7)  # mantelhaen.test needs >= 2 strata; the test compares with chisq instead
  }
  data.frame(case = s$case[1], mh_oracle = mh_oracle,
             mh_estimate = sato$est, mh_lower = sato$lower,
             mh_upper = sato$upper, mh_se = hand[2],
             sn_estimate = sn[1], sn_lower = sn[2], sn_upper = sn[3],
             cmh_stat = cmh[1], cmh_p = cmh[2], cmh_cc_stat = cmh[3], cmh_cc_p = cmh[4],
             mh_or = cmh[5], mh_or_lower = cmh[6], mh_or_upper = cmh[7])
})
write_fixture(strat, "stratified_tables.csv")
write_fixture(do.call(rbind, strat_rows), "stratified.csv")

# ---------------------------------------------------------------------------------------------
# 3. Continuous
# ---------------------------------------------------------------------------------------------
set.seed(20240401)
cont <- data.frame(arm = rep(c("ivig", "placebo"), c(23, 19)))
cont$y <- round(ifelse(cont$arm == "ivig", rnorm(42, 45, 22), rnorm(42, 25, 12)), 2)
write_fixture(cont, "continuous_data.csv")
y1 <- cont$y[cont$arm == "ivig"]; y2 <- cont$y[cont$arm == "placebo"]
tt <- function(var_equal, key) {
  r <- t.test(y1, y2, var.equal = var_equal, conf.level = 0.95)
  data.frame(method = key, estimate = mean(y1) - mean(y2), lower = r$conf.int[1],
             upper = r$conf.int[2], statistic = unname(r$statistic), df = unname(r$parameter),
             p_value = r$p.value, std_error = unname(r$stderr))
}
write_fixture(rbind(tt(TRUE, "pooled_t"), tt(FALSE, "welch")), "continuous_ttest.csv")

set.seed(20240402)
n <- 60
anc <- data.frame(arm = rep(c("ivig", "placebo"), each = n / 2),
                  stratum = rep(c("mild", "moderate", "severe"), length.out = n))
anc$baseline <- round(runif(n, 90, 140), 1)
anc$outcome <- round(anc$baseline + ifelse(anc$arm == "ivig", 12, 3) +
                       ifelse(anc$stratum == "severe", -4, 0) + rnorm(n, 0, 9), 1)
write_fixture(anc, "ancova_data.csv")
anc$arm <- relevel(factor(anc$arm), ref = "placebo")
ancova_row <- function(formula, key) {
  fit <- lm(formula, data = anc)
  co <- summary(fit)$coefficients["armivig", ]
  ci <- confint(fit)["armivig", ]
  data.frame(model = key, estimate = co[["Estimate"]], std_error = co[["Std. Error"]],
             statistic = co[["t value"]], p_value = co[["Pr(>|t|)"]], df = fit$df.residual,
             lower = ci[[1]], upper = ci[[2]])
}
write_fixture(rbind(ancova_row(outcome ~ arm + baseline, "baseline"),
                    ancova_row(outcome ~ arm + baseline + stratum, "baseline_stratum")),
              "ancova.csv")

# ---------------------------------------------------------------------------------------------
# 4. Kaplan-Meier and log-rank
# ---------------------------------------------------------------------------------------------
set.seed(20240403)
ng <- 30
km <- data.frame(group = rep(c("ivig", "placebo"), each = ng))
ev_time <- ceiling(rexp(2 * ng, rate = ifelse(km$group == "ivig", 1 / 40, 1 / 90)))
cens_time <- ceiling(runif(2 * ng, 20, 160))
km$time <- pmin(ev_time, cens_time, 112)
km$event <- as.integer(ev_time <= pmin(cens_time, 112))
# extra small data sets: curve reaching 0; survival exactly 0.5 on an interval (median = midpoint)
km_extra <- rbind(
  data.frame(group = "to_zero", time = c(2, 3, 3, 5, 8, 9), event = c(1, 0, 1, 1, 1, 1)),
  data.frame(group = "half_flat", time = c(1, 2, 3, 4), event = c(1, 1, 1, 1))
)
km_all <- rbind(km, km_extra)
write_fixture(km_all, "km_data.csv")

curves <- list(); medians <- list()
for (g in unique(km_all$group)) {
  d <- km_all[km_all$group == g, ]
  fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log-log", conf.int = 0.95)
  curves[[g]] <- data.frame(group = g, time = fit$time, n_risk = fit$n.risk,
                            n_event = fit$n.event, n_censor = fit$n.censor, surv = fit$surv,
                            std_err = fit$std.err, lower = fit$lower, upper = fit$upper)
  q <- quantile(fit, probs = 0.5)
  medians[[g]] <- data.frame(group = g, median = unname(q$quantile),
                             lower = unname(q$lower), upper = unname(q$upper))
}
write_fixture(do.call(rbind, curves), "km_curves.csv")
write_fixture(do.call(rbind, medians), "km_medians.csv")
sd <- survdiff(Surv(time, event) ~ group, data = km, rho = 0)
write_fixture(data.frame(statistic = sd$chisq, df = length(sd$n) - 1,
                         p_value = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
                         observed_ivig = sd$obs[1], expected_ivig = sd$exp[1],
                         observed_placebo = sd$obs[2], expected_placebo = sd$exp[2]),
              "logrank.csv")

# ---------------------------------------------------------------------------------------------
# 5. Subgroups: treatment-by-subgroup interaction, logistic regression likelihood-ratio test
# ---------------------------------------------------------------------------------------------
set.seed(20240404)
ns <- 120
sg <- data.frame(arm = rep(c("ivig", "placebo"), each = ns / 2),
                 sex = sample(c("female", "male"), ns, replace = TRUE, prob = c(0.75, 0.25)),
                 severity = sample(c("mild", "moderate", "severe"), ns, replace = TRUE,
                                   prob = c(0.27, 0.59, 0.14)))
lp <- -0.3 + ifelse(sg$arm == "ivig", 1.4, 0) + ifelse(sg$severity == "severe", -0.6, 0)
sg$responder <- rbinom(ns, 1, plogis(lp))
write_fixture(sg, "subgroup_data.csv")
sg$arm <- relevel(factor(sg$arm), ref = "placebo")
lrt_row <- function(var) {
  f0 <- as.formula(paste("responder ~ arm +", var))
  f1 <- as.formula(paste("responder ~ arm *", var))
  m0 <- glm(f0, family = binomial, data = sg); m1 <- glm(f1, family = binomial, data = sg)
  a <- anova(m0, m1, test = "LRT")
  data.frame(subgroup = var, statistic = a$Deviance[2], df = a$Df[2], p_value = a[2, "Pr(>Chi)"])
}
write_fixture(rbind(lrt_row("sex"), lrt_row("severity")), "subgroup_interaction.csv")

writeLines(capture.output(sessionInfo()), file.path(out_dir, "sessionInfo.txt"))
