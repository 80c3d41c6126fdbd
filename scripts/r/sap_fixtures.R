# Reference values for the statistical-analysis-plan methods of myotrial.stats (issue 13),
# written as CSV fixtures under tests/fixtures/r/ (prefix sap_).
#
# Run from the repository root:
#   Rscript scripts/r/sap_fixtures.R
# Needs Debian's r-base-core, r-cran-survival, r-cran-nlme, r-cran-mice
# (apt-get install -y r-base-core r-cran-survival r-cran-nlme r-cran-mice).
# CI does not run R: the tests only read the committed CSVs.
#
# Oracles, per fixture file:
#   sap_cmh_tables.csv, sap_cmh.csv   stats::mantelhaen.test(correct = TRUE / FALSE) on 2x2xK
#                                     tables chosen so that |sum(O - E)| < 0.5 (R then applies
#                                     no continuity correction) and >= 0.5.
#   sap_clopper_pearson.csv           stats::binom.test(x, n)$conf.int.
#   sap_score_test.csv                chisq.test(correct = FALSE)$statistic * (N - 1) / N and its
#                                     p-value (the Miettinen-Nurminen score test at delta = 0).
#   sap_cox_data.csv, sap_cox.csv,    survival::coxph(ties = "efron" / "breslow", with and
#   sap_cox_zph.csv                   without strata()), summary()'s Wald / score / LR tests,
#                                     survival::cox.zph(fit) (transform "km"),
#                                     survival::survdiff(... + strata(s)) (sap_logrank.csv).
#   sap_mmrm_data.csv, sap_mmrm.csv,  nlme::gls(y ~ visit + visit:trt + base + base:visit,
#   sap_mmrm_cov.csv                  correlation = corSymm, weights = varIdent, REML) fitted with
#                                     opt = "optim" (its best optimum) and with the default
#                                     nlminb; per-visit visit:trt rows of summary()$tTable,
#                                     the residual df, logLik and getVarCov().
#   sap_padjust.csv                   stats::p.adjust(method = "holm" / "hochberg").
#   sap_rubin.csv                     mice::pool.scalar(Q, U, n, k = 1) on fixed per-imputation
#                                     estimates Q and variances U.
#   sap_cox_edge_data.csv,            coxph (Efron / Breslow) where every event is on one day
#   sap_cox_edge.csv                  (cox.zph stops: its error text is recorded) and with no event
#                                     in one arm (monotone likelihood: the warning is recorded).
#   sap_mmrm_nobase.csv,              nlme::gls(y ~ visit + visit:trt, corSymm + varIdent, REML):
#   sap_mmrm_nobase_cov.csv           the MMRM without a baseline covariate, same data.
#   sap_lindep_data.csv,              mice:::remove.lindep(x, y, ry): which predictors mice keeps
#   sap_lindep.csv                    for one imputed variable (constant / collinear screening).
#   sap_tipping.csv                   tipping point on a grid of imputed response rates: k =
#                                     floor(rate * M + 1/2), fisher.test, Newcombe (prop.test).

suppressPackageStartupMessages({
  library(survival)
  library(nlme)
  library(mice)
})

out_dir <- file.path("tests", "fixtures", "r")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
write_fixture <- function(df, name) {
  path <- file.path(out_dir, name)
  # 17 significant digits (write.csv keeps 15): the MMRM covariance is fed back to Python
  for (col in names(df)) {
    if (is.double(df[[col]])) {
      df[[col]] <- ifelse(is.na(df[[col]]), NA, sprintf("%.17g", df[[col]]))
    }
  }
  utils::write.csv(df, path, row.names = FALSE, na = "", quote = FALSE)
  message("wrote ", path)
}

# ---------------------------------------------------------------------------------------------
# 1. CMH with continuity correction where |sum(O - E)| < 0.5
# ---------------------------------------------------------------------------------------------
cmh_cases <- rbind(
  data.frame(case = "delta_small_1", stratum = c("a", "b"),
             x1 = c(3, 4), n1 = c(6, 7), x2 = c(3, 3), n2 = c(6, 6)),
  data.frame(case = "delta_small_2", stratum = c("a", "b", "c"),
             x1 = c(2, 5, 1), n1 = c(5, 9, 4), x2 = c(2, 4, 2), n2 = c(4, 8, 5)),
  data.frame(case = "delta_zero", stratum = c("a", "b"),
             x1 = c(2, 3), n1 = c(4, 6), x2 = c(2, 3), n2 = c(4, 6)),
  data.frame(case = "delta_large", stratum = c("a", "b"),
             x1 = c(8, 6), n1 = c(10, 9), x2 = c(3, 2), n2 = c(10, 8))
)
cmh_rows <- lapply(split(cmh_cases, factor(cmh_cases$case, levels = unique(cmh_cases$case))),
                   function(s) {
  arr <- array(0, dim = c(2, 2, nrow(s)))
  for (j in seq_len(nrow(s))) {
    arr[, , j] <- matrix(c(s$x1[j], s$n1[j] - s$x1[j], s$x2[j], s$n2[j] - s$x2[j]), 2,
                         byrow = TRUE)
  }
  m1 <- s$x1 + s$x2
  delta <- sum(s$x1 - s$n1 * m1 / (s$n1 + s$n2))
  cc <- mantelhaen.test(arr, correct = TRUE)
  nc <- mantelhaen.test(arr, correct = FALSE)
  data.frame(case = s$case[1], delta = delta,
             cc_stat = unname(cc$statistic), cc_p = cc$p.value,
             stat = unname(nc$statistic), p = nc$p.value)
})
cmh_out <- do.call(rbind, cmh_rows)
stopifnot(abs(cmh_out$delta[1:3]) < 0.5, abs(cmh_out$delta[4]) >= 0.5)
write_fixture(cmh_cases, "sap_cmh_tables.csv")
write_fixture(cmh_out, "sap_cmh.csv")

# ---------------------------------------------------------------------------------------------
# 2. Clopper-Pearson and the score test
# ---------------------------------------------------------------------------------------------
cp <- data.frame(x = c(37, 21, 0, 10, 1, 15, 4), n = c(47, 48, 20, 10, 7, 47, 48))
cp_rows <- lapply(seq_len(nrow(cp)), function(i) {
  ci <- binom.test(cp$x[i], cp$n[i], conf.level = 0.95)$conf.int
  ci90 <- binom.test(cp$x[i], cp$n[i], conf.level = 0.90)$conf.int
  data.frame(cp[i, ], lower = ci[1], upper = ci[2], lower90 = ci90[1], upper90 = ci90[2])
})
write_fixture(do.call(rbind, cp_rows), "sap_clopper_pearson.csv")

sc <- data.frame(x1 = c(37, 32, 15, 3, 5, 9), n1 = c(47, 47, 47, 8, 30, 12),
                 x2 = c(21, 11, 4, 0, 12, 3), n2 = c(48, 48, 48, 9, 28, 11))
sc_rows <- lapply(seq_len(nrow(sc)), function(i) {
  tab <- matrix(c(sc$x1[i], sc$n1[i] - sc$x1[i], sc$x2[i], sc$n2[i] - sc$x2[i]), 2, byrow = TRUE)
  N <- sum(tab)
  st <- unname(suppressWarnings(chisq.test(tab, correct = FALSE))$statistic) * (N - 1) / N
  data.frame(sc[i, ], statistic = st, p_value = pchisq(st, 1, lower.tail = FALSE),
             min_expected = min(suppressWarnings(chisq.test(tab))$expected))
})
write_fixture(do.call(rbind, sc_rows), "sap_score_test.csv")

# ---------------------------------------------------------------------------------------------
# 3. Cox models, cox.zph, stratified log-rank (integer times: tied events)
# ---------------------------------------------------------------------------------------------
set.seed(20240413)
n <- 90
cx <- data.frame(arm = rep(c("ivig", "placebo"), each = n / 2),
                 stratum = sample(c("mild", "moderate", "severe"), n, TRUE, c(0.3, 0.5, 0.2)),
                 age = round(rnorm(n, 52, 12)))
ev <- ceiling(rexp(n, ifelse(cx$arm == "ivig", 1 / 35, 1 / 70) *
                     ifelse(cx$stratum == "severe", 1.8, 1)) / 7) * 7
ce <- ceiling(runif(n, 28, 140) / 7) * 7
cx$time <- pmin(ev, ce, 112)
cx$event <- as.integer(ev <= pmin(ce, 112))
cx$trt <- as.integer(cx$arm == "ivig")
write_fixture(cx, "sap_cox_data.csv")
ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100)
cox_rows <- list(); zph_rows <- list()
for (ties in c("efron", "breslow")) for (model in c("arm", "arm_age", "arm_strata",
                                                    "arm_age_strata")) {
  f <- switch(model,
              arm = Surv(time, event) ~ trt,
              arm_age = Surv(time, event) ~ trt + age,
              arm_strata = Surv(time, event) ~ trt + strata(stratum),
              arm_age_strata = Surv(time, event) ~ trt + age + strata(stratum))
  fit <- coxph(f, data = cx, ties = ties, control = ctl)
  se <- sqrt(diag(vcov(fit)))
  ci <- exp(confint(fit))
  key <- paste(ties, model, sep = ":")
  cox_rows[[key]] <- data.frame(
    ties = ties, model = model, term = names(coef(fit)), coef = unname(coef(fit)),
    std_error = unname(se), hazard_ratio = unname(exp(coef(fit))),
    lower = unname(ci[, 1]), upper = unname(ci[, 2]),
    p_value = unname(summary(fit)$coefficients[, "Pr(>|z|)"]),
    wald = unname(fit$wald.test), score = unname(fit$score),
    lrt = 2 * (fit$loglik[2] - fit$loglik[1]),
    loglik_null = fit$loglik[1], loglik = fit$loglik[2])
  z <- cox.zph(fit, transform = "km")
  zph_rows[[key]] <- data.frame(ties = ties, model = model, term = rownames(z$table),
                                chisq = z$table[, "chisq"], df = z$table[, "df"],
                                p_value = z$table[, "p"])
}
write_fixture(do.call(rbind, cox_rows), "sap_cox.csv")
write_fixture(do.call(rbind, zph_rows), "sap_cox_zph.csv")
lr <- survdiff(Surv(time, event) ~ arm + strata(stratum), data = cx)
lr0 <- survdiff(Surv(time, event) ~ arm, data = cx)
write_fixture(data.frame(stratified = c(TRUE, FALSE), statistic = c(lr$chisq, lr0$chisq),
                         p_value = pchisq(c(lr$chisq, lr0$chisq), 1, lower.tail = FALSE),
                         observed_ivig = c(rowSums(lr$obs)[1], lr0$obs[1]),
                         expected_ivig = c(rowSums(lr$exp)[1], lr0$exp[1]),
                         expected_placebo = c(rowSums(lr$exp)[2], lr0$exp[2])),
              "sap_logrank.csv")

# 3b. Cox edge cases (issue 13 follow-up): every event on the same day (coxph fits, cox.zph
#     stops: "system is exactly singular"), and no event in one arm (monotone likelihood: coxph
#     warns "coefficient may be infinite" with a huge coefficient; the score and LR tests are
#     still valid). Errors and warnings are written as text.
edge <- rbind(
  data.frame(case = "same_day", stratum = "s",
             time = c(28, 28, 28, 28, 28, 56, 56, 56, 56, 56, 28, 28, 28, 56, 56, 56, 56, 56, 56,
                      56),
             event = c(1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
             trt = rep(1:0, each = 10)),
  data.frame(case = "same_day_strata", stratum = rep(c("a", "b"), 10),
             time = c(28, 28, 28, 56, 28, 56, 112, 56, 28, 112, 28, 56, 28, 112, 56, 56, 112, 28,
                      56, 112),
             event = c(1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0),
             trt = rep(1:0, each = 10)),
  data.frame(case = "no_events_one_arm", stratum = "s",
             time = c(28, 35, 42, 49, 56, 56, 70, 84, 84, 84, 21, 30, 40, 60, 84, 84, 84, 84, 84,
                      84),
             event = c(1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
             trt = rep(1:0, each = 10))
)
write_fixture(edge, "sap_cox_edge_data.csv")
edge_rows <- list()
for (cs in unique(edge$case)) for (ties in c("efron", "breslow")) {
  d <- edge[edge$case == cs, ]
  f <- if (cs == "same_day_strata") Surv(time, event) ~ trt + strata(stratum) else
    Surv(time, event) ~ trt
  warn <- ""
  fit <- withCallingHandlers(coxph(f, data = d, ties = ties, control = ctl),
                             warning = function(w) {
                               warn <<- trimws(conditionMessage(w))
                               invokeRestart("muffleWarning")
                             })
  zph <- tryCatch(cox.zph(fit, transform = "km")$table, error = function(e) e)
  zph_error <- if (inherits(zph, "error")) trimws(conditionMessage(zph)) else ""
  ci <- exp(confint(fit))
  edge_rows[[length(edge_rows) + 1]] <- data.frame(
    case = cs, ties = ties, coef = unname(coef(fit)), std_error = sqrt(diag(vcov(fit))),
    hazard_ratio = unname(exp(coef(fit))), lower = ci[1, 1], upper = ci[1, 2],
    p_value = unname(summary(fit)$coefficients[, "Pr(>|z|)"]),
    wald = unname(fit$wald.test), score = unname(fit$score),
    lrt = 2 * (fit$loglik[2] - fit$loglik[1]), loglik_null = fit$loglik[1],
    loglik = fit$loglik[2], iterations = fit$iter, warning = gsub(",", ";", warn),
    zph_error = gsub(",", ";", zph_error),
    zph_global_p = if (zph_error == "") zph["GLOBAL", "p"] else NA_real_)
}
edge_out <- do.call(rbind, edge_rows)
stopifnot(edge_out$zph_error[edge_out$case != "no_events_one_arm"] != "",
          edge_out$warning[edge_out$case == "no_events_one_arm"] != "")
write_fixture(edge_out, "sap_cox_edge.csv")

# ---------------------------------------------------------------------------------------------
# 4. MMRM: nlme::gls with unstructured covariance (corSymm + varIdent), REML
# ---------------------------------------------------------------------------------------------
set.seed(20240414)
nm <- 70
ids <- sprintf("P%03d", seq_len(nm))
arm <- rep(c("ivig", "placebo"), c(36, 34))
base <- round(rnorm(nm, 40, 10), 1)
weeks <- c(4, 8, 12, 16)
S <- matrix(c(100, 60, 50, 40, 60, 120, 80, 70, 50, 80, 140, 100, 40, 70, 100, 160), 4)
L <- t(chol(S))
mm <- list()
for (i in seq_len(nm)) {
  y <- 10 + 0.5 * base[i] + weeks / 2 + (arm[i] == "ivig") * c(4, 8, 12, 16) +
    as.numeric(L %*% rnorm(4))
  drop <- if (runif(1) < 0.25) sample(2:4, 1) else 5  # monotone dropout
  for (v in 1:4) {
    miss <- v >= drop || runif(1) < 0.05               # plus intermittent missing
    mm[[length(mm) + 1]] <- data.frame(id = ids[i], arm = arm[i], week = weeks[v],
                                       base = base[i], y = if (miss) NA else round(y[v], 1))
  }
}
md <- do.call(rbind, mm)
write_fixture(md, "sap_mmrm_data.csv")
md$visit <- factor(md$week); md$trt <- as.integer(md$arm == "ivig")
md$tnum <- as.integer(md$visit)
mmrm_rows <- list(); cov_rows <- list()
for (opt in c("optim", "nlminb")) {
  ctl <- glsControl(opt = opt, optimMethod = "BFGS", tolerance = 1e-12, msTol = 1e-12,
                    maxIter = 1000, msMaxIter = 1000, returnObject = TRUE)
  fit <- gls(y ~ visit + visit:trt + base + base:visit, data = md,
             correlation = corSymm(form = ~ tnum | id), weights = varIdent(form = ~ 1 | visit),
             method = "REML", na.action = na.omit, control = ctl)
  tt <- summary(fit)$tTable
  rows <- grep(":trt$", rownames(tt))
  dfres <- fit$dims$N - fit$dims$p
  q <- qt(0.975, dfres)
  mmrm_rows[[opt]] <- data.frame(
    optimizer = opt, visit = weeks, estimate = tt[rows, "Value"],
    std_error = tt[rows, "Std.Error"], statistic = tt[rows, "t-value"],
    p_value = tt[rows, "p-value"], df = dfres,
    lower = tt[rows, "Value"] - q * tt[rows, "Std.Error"],
    upper = tt[rows, "Value"] + q * tt[rows, "Std.Error"],
    reml_loglik = as.numeric(logLik(fit)))
  # the marginal covariance of a patient with all four visits
  full <- names(which(table(na.omit(md)$id) == 4))[1]
  V <- unclass(getVarCov(fit, individual = full))
  cov_rows[[opt]] <- data.frame(optimizer = opt, visit = weeks, V)
}
mmrm_out <- do.call(rbind, mmrm_rows)
cov_out <- do.call(rbind, cov_rows)
names(cov_out) <- c("optimizer", "visit", paste0("v", weeks))
write_fixture(mmrm_out, "sap_mmrm.csv")
write_fixture(cov_out, "sap_mmrm_cov.csv")

# 4b. MMRM without a baseline covariate (an outcome that is itself a change score, e.g. the
#     TIS): y ~ visit + visit:trt, same covariance structure, same data
nb_rows <- list(); nb_cov <- list()
for (opt in c("optim", "nlminb")) {
  ctl <- glsControl(opt = opt, optimMethod = "BFGS", tolerance = 1e-12, msTol = 1e-12,
                    maxIter = 1000, msMaxIter = 1000, returnObject = TRUE)
  fit <- gls(y ~ visit + visit:trt, data = md,
             correlation = corSymm(form = ~ tnum | id), weights = varIdent(form = ~ 1 | visit),
             method = "REML", na.action = na.omit, control = ctl)
  tt <- summary(fit)$tTable
  rows <- grep(":trt$", rownames(tt))
  dfres <- fit$dims$N - fit$dims$p
  q <- qt(0.975, dfres)
  nb_rows[[opt]] <- data.frame(
    optimizer = opt, visit = weeks, estimate = tt[rows, "Value"],
    std_error = tt[rows, "Std.Error"], statistic = tt[rows, "t-value"],
    p_value = tt[rows, "p-value"], df = dfres,
    lower = tt[rows, "Value"] - q * tt[rows, "Std.Error"],
    upper = tt[rows, "Value"] + q * tt[rows, "Std.Error"],
    reml_loglik = as.numeric(logLik(fit)), n_fixed = fit$dims$p)
  full <- names(which(table(na.omit(md)$id) == 4))[1]
  nb_cov[[opt]] <- data.frame(optimizer = opt, visit = weeks,
                              unclass(getVarCov(fit, individual = full)))
}
nb_cov_out <- do.call(rbind, nb_cov)
names(nb_cov_out) <- c("optimizer", "visit", paste0("v", weeks))
write_fixture(do.call(rbind, nb_rows), "sap_mmrm_nobase.csv")
write_fixture(nb_cov_out, "sap_mmrm_nobase_cov.csv")

# ---------------------------------------------------------------------------------------------
# 5. Multiplicity: p.adjust
# ---------------------------------------------------------------------------------------------
pv <- list(c(0.01, 0.04, 0.03, 0.005, 0.2),
           c(0.0008, 0.0001, 0.0034, 0.02, 0.6, 0.045),
           c(0.03, 0.03, 0.03),
           c(0.2, 0.5, 0.9),
           c(0.049, 0.051))
pa <- do.call(rbind, lapply(seq_along(pv), function(k) {
  data.frame(family = k, position = seq_along(pv[[k]]), p = pv[[k]],
             holm = p.adjust(pv[[k]], "holm"), hochberg = p.adjust(pv[[k]], "hochberg"))
}))
write_fixture(pa, "sap_padjust.csv")

# ---------------------------------------------------------------------------------------------
# 6. Rubin's rules: mice::pool.scalar on fixed completed-data estimates
# ---------------------------------------------------------------------------------------------
set.seed(20240415)
rb_in <- list(
  risk_difference_m20 = list(Q = round(0.30 + rnorm(20, 0, 0.02), 6),
                             U = round(0.0085 + runif(20, -5e-4, 5e-4), 8)),
  small_m5 = list(Q = c(0.21, 0.25, 0.19, 0.30, 0.22), U = c(0.010, 0.011, 0.009, 0.012, 0.010)),
  no_between_m3 = list(Q = c(0.4, 0.4, 0.4), U = c(0.01, 0.01, 0.01))
)
rb_rows <- list()
for (nm_ in names(rb_in)) for (dfcom in c(Inf, 50)) {
  Q <- rb_in[[nm_]]$Q; U <- rb_in[[nm_]]$U
  pr <- pool.scalar(Q, U, n = dfcom + 1, k = 1)
  rb_rows[[length(rb_rows) + 1]] <- data.frame(
    case = nm_, df_complete = dfcom, Q = paste(sprintf("%.17g", Q), collapse = ";"),
    U = paste(sprintf("%.17g", U), collapse = ";"), qbar = pr$qbar, ubar = pr$ubar,
    b = pr$b, t = pr$t, df = pr$df, riv = pr$r, fmi = pr$fmi)
}
write_fixture(do.call(rbind, rb_rows), "sap_rubin.csv")

# ---------------------------------------------------------------------------------------------
# 7. mice's predictor screening per imputed variable: mice:::remove.lindep(x, y, ry)
#    (eps = 1e-4, maxcor = 0.99): constant predictors (variance <= eps among the rows with y
#    observed), predictors correlating >= 0.99 with y, and linearly dependent ones (smallest /
#    largest eigenvalue of their correlation matrix < eps) are dropped; all if y is constant.
# ---------------------------------------------------------------------------------------------
set.seed(20240416)
nl <- 24
lin_cases <- list()
mk <- function(case, y, ry, x) {
  data.frame(case = case, row = seq_along(y), y = ifelse(ry, y, NA), ry = ry, x)
}
y <- round(rnorm(nl, 10, 3), 1); ry <- rep(c(TRUE, TRUE, FALSE), 8)
a <- round(rnorm(nl), 2); b <- round(rnorm(nl), 2); cc <- round(rnorm(nl), 2)
lin_cases[[1]] <- mk("none", y, ry, data.frame(x1 = a, x2 = b, x3 = cc, x4 = round(rnorm(nl), 2)))
lin_cases[[2]] <- mk("constant", y, ry, data.frame(x1 = a, x2 = 5, x3 = 0, x4 = b))
lin_cases[[3]] <- mk("constant_where_observed", y, ry,
                     data.frame(x1 = a, x2 = ifelse(ry, 2.5, b), x3 = cc, x4 = b))
lin_cases[[4]] <- mk("duplicate", y, ry, data.frame(x1 = a, x2 = b, x3 = 2 * a + 1, x4 = cc))
lin_cases[[5]] <- mk("linear_combination", y, ry, data.frame(x1 = a, x2 = b, x3 = cc,
                                                             x4 = a - 0.5 * b))
lin_cases[[6]] <- mk("high_correlation", y, ry,
                     data.frame(x1 = y + round(rnorm(nl, 0, 0.05), 2), x2 = -y, x3 = a, x4 = b))
lin_cases[[7]] <- mk("y_constant", ifelse(ry, 7.5, y), ry, data.frame(x1 = a, x2 = b, x3 = cc,
                                                                      x4 = 1))
lin_data <- do.call(rbind, lin_cases)
write_fixture(lin_data, "sap_lindep_data.csv")
lin_out <- do.call(rbind, lapply(split(lin_data, factor(lin_data$case,
                                                        levels = unique(lin_data$case))),
                                 function(d) {
  x <- as.matrix(d[, c("x1", "x2", "x3", "x4")])
  yy <- ifelse(d$ry, d$y, 0)
  # remove.lindep logs through mice:::updateLog, which looks up `state` and `loggedEvents` in
  # the calling frames (as inside mice's sampler)
  state <- list(it = 1, im = 1, dep = "y", meth = "pmm", log = FALSE)
  loggedEvents <- data.frame()
  keep <- mice:::remove.lindep(x, yy, d$ry, frame = 1)
  data.frame(case = d$case[1], keep = paste(keep, collapse = ";"),
             logged = if (state$log) paste(gsub(", ", ";", loggedEvents$out), collapse = "|")
                      else "")
}))
write_fixture(lin_out, "sap_lindep.csv")

# ---------------------------------------------------------------------------------------------
# 8. Tipping point on a grid of imputed response rates: rates 0, step, 2 step, ... (and 1),
#    imputed responders k = floor(rate * M + 1/2) (nearest integer, halves up), then
#    fisher.test and the Newcombe hybrid score interval (prop.test Wilson limits) per cell
# ---------------------------------------------------------------------------------------------
tp_cases <- data.frame(case = c("a_0.1", "a_0.25", "a_0.3", "b_0.05"),
                       x1 = c(30, 30, 30, 20), n1 = c(40, 40, 40, 30),
                       m1 = c(7, 7, 7, 6), x2 = c(15, 15, 15, 10),
                       n2 = c(42, 42, 42, 30), m2 = c(9, 9, 9, 5),
                       step = c(0.1, 0.25, 0.3, 0.05))
tp_rows <- list()
for (i in seq_len(nrow(tp_cases))) {
  cs <- tp_cases[i, ]
  rates <- (0:floor(1 / cs$step + 1e-9)) * cs$step
  if (rates[length(rates)] < 1 - 1e-9) rates <- c(rates, 1)
  for (r1 in rates) for (r2 in rates) {
    k1 <- floor(r1 * cs$m1 + 0.5 + 1e-9); k2 <- floor(r2 * cs$m2 + 0.5 + 1e-9)
    t1 <- cs$x1 + k1; s1 <- cs$n1 + cs$m1; t2 <- cs$x2 + k2; s2 <- cs$n2 + cs$m2
    w1 <- prop.test(t1, s1, correct = FALSE)$conf.int
    w2 <- prop.test(t2, s2, correct = FALSE)$conf.int
    p1 <- t1 / s1; p2 <- t2 / s2
    tp_rows[[length(tp_rows) + 1]] <- data.frame(
      cs, rate1 = r1, rate2 = r2, k1 = k1, k2 = k2, estimate = p1 - p2,
      lower = p1 - p2 - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2),
      upper = p1 - p2 + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2),
      p_value = fisher.test(matrix(c(t1, s1 - t1, t2, s2 - t2), 2, byrow = TRUE))$p.value)
  }
}
write_fixture(do.call(rbind, tp_rows), "sap_tipping.csv")

writeLines(capture.output(sessionInfo()), file.path(out_dir, "sap_sessionInfo.txt"))
