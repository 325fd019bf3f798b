-- 广州市人力资源和社会保障局: social insurance (P06); unemployment benefits are kept here too.
CREATE TABLE insured_person (
    id_number            text PRIMARY KEY,
    status               text NOT NULL CHECK (status IN ('active', 'suspended', 'terminated')),
    contribution_months  integer NOT NULL CHECK (contribution_months >= 0),
    employer_uscc        text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE unemployment_benefit (
    id_number     text PRIMARY KEY,
    monthly_amount numeric(12, 2) NOT NULL,
    since         date NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO insured_person (id_number, status, contribution_months, employer_uscc) VALUES
    ('440106199001011235', 'active',    96,  '91440106MA59C8K17D'),
    ('44010319781120046X', 'suspended', 150, NULL),
    ('440106200002290024', 'active',    30,  NULL);

INSERT INTO unemployment_benefit (id_number, monthly_amount, since) VALUES
    ('440111199207085636', 1890.00, '2026-07-01');
