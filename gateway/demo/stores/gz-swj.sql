-- 国家税务总局广州市税务局: tax credit ratings (E04, public).
CREATE TABLE tax_credit_rating (
    uscc        text NOT NULL,
    year        integer NOT NULL,
    grade       text NOT NULL CHECK (grade IN ('A', 'B', 'M', 'C', 'D')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (uscc, year)
);

INSERT INTO tax_credit_rating (uscc, year, grade, updated_at) VALUES
    ('91440106MA59C8K17D', 2025, 'A', '2025-04-20 10:00:00+08'),
    ('91440103MA5D3N7W37', 2025, 'B', '2025-04-20 10:00:00+08'),
    ('91440111MA9UTQ4R6C', 2025, 'D', '2025-04-20 10:00:00+08');
