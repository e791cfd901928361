/* hitwatch native kernel: CLF timestamps (clf.parse_time) as Unix
 * seconds, in two steps so that a cache can keep the first one per
 * minute. Included by parse.h. */
#ifndef HITWATCH_PARSE_TIME_H
#define HITWATCH_PARSE_TIME_H

static int64_t hw_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const int HW_DAYS[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

#define HW_D2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
#define HW_NO_BASE INT64_MIN

/* The month of `Jan`..`Dec` (exact case), else 0. */
static inline int hw_month(const uint8_t *s) {
    switch (((uint32_t)s[0] << 16) | ((uint32_t)s[1] << 8) | s[2]) {
    case 0x4a616e: return 1;  /* Jan */
    case 0x466562: return 2;  /* Feb */
    case 0x4d6172: return 3;  /* Mar */
    case 0x417072: return 4;  /* Apr */
    case 0x4d6179: return 5;  /* May */
    case 0x4a756e: return 6;  /* Jun */
    case 0x4a756c: return 7;  /* Jul */
    case 0x417567: return 8;  /* Aug */
    case 0x536570: return 9;  /* Sep */
    case 0x4f6374: return 10; /* Oct */
    case 0x4e6f76: return 11; /* Nov */
    case 0x446563: return 12; /* Dec */
    default: return 0;
    }
}

/* clf.parse_time (`10/Oct/2000:13:55:36 -0700` -> Unix seconds, or -1; any
 * stamp but 26 bytes long is -1) in two steps, so that a cache can keep the
 * first one per minute: hw_stamp_base checks every field of a 26-byte stamp
 * but the seconds (s[18..19]) and returns its Unix time at second 0, before
 * the range check (HW_NO_BASE when invalid); hw_stamp_ts adds the seconds.
 * All of parse_time's conditions must hold, so checking them in two groups
 * gives the same answer. */
static int64_t hw_stamp_base(const uint8_t *s) {
    static const int digits[] = {0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 22, 23, 24, 25};
    for (size_t i = 0; i < sizeof digits / sizeof digits[0]; i++)
        if (!hw_digit(s[digits[i]])) return HW_NO_BASE;
    if (s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
        return HW_NO_BASE;
    if (s[21] != '+' && s[21] != '-') return HW_NO_BASE;
    int month = hw_month(s + 3);
    int64_t d = HW_D2(s), y = HW_D2(s + 7) * 100 + HW_D2(s + 9);
    int64_t h = HW_D2(s + 12), mi = HW_D2(s + 15);
    int64_t oh = HW_D2(s + 22), om = HW_D2(s + 24);
    if (!month || d < 1 || d > HW_DAYS[month] || h > 23 || mi > 59) return HW_NO_BASE;
    if (month == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return HW_NO_BASE;
    if (oh > 23 || om > 59 || y < 1970) return HW_NO_BASE;
    int64_t offset = (oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    return hw_days_from_civil(y, month, d) * 86400 + h * 3600 + mi * 60 - offset;
}

static inline int64_t hw_stamp_ts(int64_t base, const uint8_t *s) {
    if (base == HW_NO_BASE || !hw_digit(s[18]) || !hw_digit(s[19])) return -1;
    int64_t sec = HW_D2(s + 18);
    if (sec > 59) return -1;
    int64_t ts = base + sec;
    return ts >= 0 && ts <= HW_MAX_TS ? ts : -1;
}

#endif
