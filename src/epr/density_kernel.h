/* epr/density_kernel.h — the arithmetic of the deep-factorized density's
 * block kernel, written once for two instantiations: the CPU's vectors of
 * EPR_VL floats (density_internal.h) and the GPU's one float per thread
 * (src/epr/cuda).  Both perform the same operation sequence on each value,
 * so with no FMA contraction (-ffp-contract=off on the CPU, --fmad=false in
 * nvcc) and IEEE division a value gives the same bits on both, given the
 * same prepared parameters.  Private to src/epr.
 *
 * The includer defines, before including this file:
 *   EPR_DK(name)       the name of each function/type (e.g. rp_v##name)
 *   EPR_DK_FN          the qualifiers of the functions (always inlined)
 *   EPR_DK_F, EPR_DK_I float and int32 value types (vectors or scalars)
 *   EPR_DK_M           the type of a comparison result
 *   EPR_DK_SPLAT(x)    a float constant as EPR_DK_F
 *   EPR_DK_SEL(m,a,b)  m ? a : b per lane (m an EPR_DK_M or a comparison)
 *   EPR_DK_ONE(m)      1 per lane where m holds, else 0 (EPR_DK_I)
 *   EPR_DK_ABS(x), EPR_DK_COPYSIGN(mag, sgn)
 *   EPR_DK_AS_I(x), EPR_DK_AS_F(i)     bit casts
 *   EPR_DK_TO_I(x), EPR_DK_TO_F(i)     value conversions (truncating)
 * "Prepared" parameters v[43] (common/density_layout.h) hold softplus(H) in
 * the H slots and tanh(a) in the a slots. */

/* exp(x) for x <= 0, relative error < 1e-7 (measured on [-86, 0]).  Arguments below -86 are
 * clamped (result ~4e-38 instead of smaller): only sigmoids far below the
 * 1e-9 likelihood bound get there, and it keeps results out of denormals.
 * Cody-Waite reduction x = n ln2 + f, |f| <= ln2/2, degree-7 Taylor. */
EPR_DK_FN EPR_DK_F EPR_DK(exp_neg)(const EPR_DK_F *xp) {
    const EPR_DK_F lo = EPR_DK_SPLAT(-86.0f);
    const EPR_DK_F x = EPR_DK_SEL(*xp < lo, lo, *xp);
    EPR_DK_F r = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
    EPR_DK_F f = (x - r * 0.693145752f) - r * 1.42860677e-6f;
    EPR_DK_F p = EPR_DK_SPLAT(1.0f / 5040.0f);
    p = p * f + 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    EPR_DK_I n = EPR_DK_TO_I(r);
    return p * EPR_DK_AS_F((n + 127) << 23);
}

/* log2(x) for normal x > 0: exponent plus an atanh series of the
 * mantissa in [sqrt(1/2), sqrt(2)); error ~1e-6 absolute for |log2 x|
 * up to 30, i.e. within rounding of the float result. */
EPR_DK_FN EPR_DK_F EPR_DK(log2)(const EPR_DK_F *xp) {
    EPR_DK_I b = EPR_DK_AS_I(*xp);
    EPR_DK_I e = ((b >> 23) & 0xff) - 127;
    EPR_DK_F m = EPR_DK_AS_F((b & 0x7fffff) | 0x3f800000);
    EPR_DK_M big = m > 1.41421356f;
    m = EPR_DK_SEL(big, m * 0.5f, m);
    e = e + EPR_DK_ONE(big);
    EPR_DK_F t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    EPR_DK_F s = EPR_DK_SPLAT(1.0f / 9.0f);
    s = s * t2 + 1.0f / 7.0f;
    s = s * t2 + 1.0f / 5.0f;
    s = s * t2 + 1.0f / 3.0f;
    s = s * t2 + 1.0f;
    return EPR_DK_TO_F(e) + (2.0f * 1.44269504088896341f) * t * s;
}

/* tanh through one exp; absolute error < 1e-7, which is what matters in
 * x + tanh(a)*tanh(x). */
EPR_DK_FN EPR_DK_F EPR_DK(tanh)(const EPR_DK_F *z) {
    const EPR_DK_F a = -2.0f * EPR_DK_ABS(*z);
    const EPR_DK_F e = EPR_DK(exp_neg)(&a);
    return EPR_DK_COPYSIGN((1.0f - e) / (1.0f + e), *z);
}

/* sigma(z) and sigma'(z) = sigma(z) sigma(-z) from one exp, accurate in
 * both tails. */
EPR_DK_FN void EPR_DK(sigmoid)(const EPR_DK_F *z, EPR_DK_F *sig, EPR_DK_F *dsig) {
    const EPR_DK_F a = -EPR_DK_ABS(*z);
    const EPR_DK_F e = EPR_DK(exp_neg)(&a);
    const EPR_DK_F r = 1.0f / (1.0f + e);
    *sig = EPR_DK_SEL(*z >= 0.0f, r, e * r);
    *dsig = e * r * r;
}

/* What the backward of one logits evaluation needs: the input, the tanh of
 * each pre-activation z_k and each layer's output x_{k+1}. */
typedef struct {
    EPR_DK_F x0;
    EPR_DK_F h0[3], x1[3], h1[3], x2[3], h2[3], x3[3];
} EPR_DK(trace);

EPR_DK_FN EPR_DK_F EPR_DK(eval)(const float *v, const EPR_DK_F *xp, EPR_DK(trace) * t) {
    const EPR_DK_F x = *xp;
    const float *K0 = v + EPR_DENSITY_H0, *b0 = v + EPR_DENSITY_B0, *a0 = v + EPR_DENSITY_A0;
    const float *K1 = v + EPR_DENSITY_H1, *b1 = v + EPR_DENSITY_B1, *a1 = v + EPR_DENSITY_A1;
    const float *K2 = v + EPR_DENSITY_H2, *b2 = v + EPR_DENSITY_B2, *a2 = v + EPR_DENSITY_A2;
    const float *K3 = v + EPR_DENSITY_H3;
    t->x0 = x;
    for (int i = 0; i < 3; i++) {
        EPR_DK_F z = K0[i] * x + b0[i];
        EPR_DK_F h = EPR_DK(tanh)(&z);
        t->h0[i] = h;
        t->x1[i] = z + a0[i] * h;
    }
    for (int i = 0; i < 3; i++) {
        EPR_DK_F z = K1[3 * i] * t->x1[0] + K1[3 * i + 1] * t->x1[1] + K1[3 * i + 2] * t->x1[2] + b1[i];
        EPR_DK_F h = EPR_DK(tanh)(&z);
        t->h1[i] = h;
        t->x2[i] = z + a1[i] * h;
    }
    for (int i = 0; i < 3; i++) {
        EPR_DK_F z = K2[3 * i] * t->x2[0] + K2[3 * i + 1] * t->x2[1] + K2[3 * i + 2] * t->x2[2] + b2[i];
        EPR_DK_F h = EPR_DK(tanh)(&z);
        t->h2[i] = h;
        t->x3[i] = z + a2[i] * h;
    }
    return K3[0] * t->x3[0] + K3[1] * t->x3[1] + K3[2] * t->x3[2] + v[EPR_DENSITY_B3];
}

/* Backward of one logits evaluation with upstream gradient g = dL/dlogits:
 * adds dL/d(prepared params) into G, returns dL/dx. */
EPR_DK_FN EPR_DK_F EPR_DK(back)(const float *v, const EPR_DK(trace) * t, const EPR_DK_F *gp, EPR_DK_F *G) {
    const EPR_DK_F g = *gp;
    const float *K0 = v + EPR_DENSITY_H0, *a0 = v + EPR_DENSITY_A0;
    const float *K1 = v + EPR_DENSITY_H1, *a1 = v + EPR_DENSITY_A1;
    const float *K2 = v + EPR_DENSITY_H2, *a2 = v + EPR_DENSITY_A2;
    const float *K3 = v + EPR_DENSITY_H3;
    EPR_DK_F dx[3], dz[3];

    G[EPR_DENSITY_B3] += g;
    for (int j = 0; j < 3; j++) {
        G[EPR_DENSITY_H3 + j] += g * t->x3[j];
        dx[j] = g * K3[j];
    }
    /* layer 2: x3 = z2 + tanh(a2)*tanh(z2), z2 = K2 x2 + b2 */
    for (int i = 0; i < 3; i++) {
        dz[i] = dx[i] * (1.0f + a2[i] * (1.0f - t->h2[i] * t->h2[i]));
        G[EPR_DENSITY_A2 + i] += dx[i] * t->h2[i];
        G[EPR_DENSITY_B2 + i] += dz[i];
        for (int j = 0; j < 3; j++) G[EPR_DENSITY_H2 + 3 * i + j] += dz[i] * t->x2[j];
    }
    for (int j = 0; j < 3; j++) dx[j] = K2[j] * dz[0] + K2[3 + j] * dz[1] + K2[6 + j] * dz[2];
    /* layer 1 */
    for (int i = 0; i < 3; i++) {
        dz[i] = dx[i] * (1.0f + a1[i] * (1.0f - t->h1[i] * t->h1[i]));
        G[EPR_DENSITY_A1 + i] += dx[i] * t->h1[i];
        G[EPR_DENSITY_B1 + i] += dz[i];
        for (int j = 0; j < 3; j++) G[EPR_DENSITY_H1 + 3 * i + j] += dz[i] * t->x1[j];
    }
    for (int j = 0; j < 3; j++) dx[j] = K1[j] * dz[0] + K1[3 + j] * dz[1] + K1[6 + j] * dz[2];
    /* layer 0: K0 is [3x1] */
    EPR_DK_F dx0 = K0[0] * (dz[0] = dx[0] * (1.0f + a0[0] * (1.0f - t->h0[0] * t->h0[0])));
    dz[1] = dx[1] * (1.0f + a0[1] * (1.0f - t->h0[1] * t->h0[1]));
    dz[2] = dx[2] * (1.0f + a0[2] * (1.0f - t->h0[2] * t->h0[2]));
    dx0 += K0[1] * dz[1] + K0[2] * dz[2];
    for (int i = 0; i < 3; i++) {
        G[EPR_DENSITY_A0 + i] += dx[i] * t->h0[i];
        G[EPR_DENSITY_B0 + i] += dz[i];
        G[EPR_DENSITY_H0 + i] += dz[i] * t->x0;
    }
    return dx0;
}

/* Bounded likelihood p(y), forward only.  The sign trick s = -sign(l + u)
 * (s = +1 when l + u == 0) keeps both sigmoids in the lower tail. */
EPR_DK_FN EPR_DK_F EPR_DK(p)(const float *v, const EPR_DK_F *y) {
    EPR_DK(trace) tl, tu;
    const EPR_DK_F ylo = *y - 0.5f, yhi = *y + 0.5f;
    EPR_DK_F l = EPR_DK(eval)(v, &ylo, &tl);
    EPR_DK_F u = EPR_DK(eval)(v, &yhi, &tu);
    EPR_DK_F s = EPR_DK_SEL(l + u > 0.0f, EPR_DK_SPLAT(-1.0f), EPR_DK_SPLAT(1.0f));
    EPR_DK_F su, dsu, sl, dsl;
    const EPR_DK_F su_in = s * u, sl_in = s * l;
    EPR_DK(sigmoid)(&su_in, &su, &dsu);
    EPR_DK(sigmoid)(&sl_in, &sl, &dsl);
    EPR_DK_F p = EPR_DK_ABS(su - sl);
    const EPR_DK_F bound = EPR_DK_SPLAT(EPR_DENSITY_LIKELIHOOD_BOUND);
    return EPR_DK_SEL(p < bound, bound, p);
}

/* Values y of the noisy density: *bits = -log2 p(y) (p bounded).  If G is
 * non-NULL, adds the gradient of w * (-log2 p(y)) (w per lane; w = 0
 * switches a padding lane off) w.r.t. the prepared parameters into G and
 * stores d/dy in *dy.  The bound follows tfc's lower_bound: the gradient
 * passes where p >= bound or where it pushes p up. */
EPR_DK_FN void EPR_DK(block)(const float *v, const EPR_DK_F *y, const EPR_DK_F *w, EPR_DK_F *bits, EPR_DK_F *dy,
                             EPR_DK_F *G) {
    EPR_DK(trace) tl, tu;
    const EPR_DK_F ylo = *y - 0.5f, yhi = *y + 0.5f;
    EPR_DK_F l = EPR_DK(eval)(v, &ylo, &tl);
    EPR_DK_F u = EPR_DK(eval)(v, &yhi, &tu);
    EPR_DK_F s = EPR_DK_SEL(l + u > 0.0f, EPR_DK_SPLAT(-1.0f), EPR_DK_SPLAT(1.0f)); /* constant for the gradient */
    EPR_DK_F su, dsu, sl, dsl;
    const EPR_DK_F su_in = s * u, sl_in = s * l;
    EPR_DK(sigmoid)(&su_in, &su, &dsu);
    EPR_DK(sigmoid)(&sl_in, &sl, &dsl);
    EPR_DK_F d = su - sl;
    EPR_DK_F p = EPR_DK_ABS(d);
    const EPR_DK_F bound = EPR_DK_SPLAT(EPR_DENSITY_LIKELIHOOD_BOUND);
    EPR_DK_M below = p < bound;
    EPR_DK_F pb = EPR_DK_SEL(below, bound, p);
    *bits = -EPR_DK(log2)(&pb);
    if (!G) return;
    EPR_DK_F gp = -*w / (pb * 0.693147180559945309f); /* dL/d(bounded p) */
    /* lower_bound: blocked where p < bound and descent would lower p */
    gp = EPR_DK_SEL(below, EPR_DK_SEL(gp < 0.0f, gp, EPR_DK_SPLAT(0.0f)), gp);
    EPR_DK_F sgn_s = EPR_DK_COPYSIGN(EPR_DK_SPLAT(1.0f), d) * s; /* d|d|/dd * s */
    EPR_DK_F gu = gp * sgn_s * dsu;
    EPR_DK_F gl = -gp * sgn_s * dsl;
    *dy = EPR_DK(back)(v, &tu, &gu, G) + EPR_DK(back)(v, &tl, &gl, G);
}
