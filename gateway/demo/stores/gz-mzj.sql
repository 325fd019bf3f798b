-- 广州市民政局: marriage registration (P03), marriage certificates (P04), subsistence allowance (P05).
CREATE TABLE marriage_registration (
    id_number       text PRIMARY KEY,
    marital_status  text NOT NULL CHECK (marital_status IN ('unmarried', 'married', 'divorced', 'widowed')),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE marriage_certificate (
    certificate_number  text NOT NULL,
    party_id_number     text NOT NULL,
    issued_on           date NOT NULL,
    spouse_name         text NOT NULL,
    spouse_id_number    text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (party_id_number, certificate_number)
);

CREATE TABLE subsistence_allowance (
    id_number       text PRIMARY KEY,
    status          text NOT NULL,
    monthly_amount  numeric(12, 2) NOT NULL,
    since           date NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO marriage_registration (id_number, marital_status) VALUES
    ('440106199001011235', 'married'),
    ('440106199203154525', 'married'),
    ('44010319781120046X', 'divorced'),
    ('440111199207085636', 'unmarried'),
    ('440106200002290024', 'unmarried'),
    ('440113199506052343', 'unmarried');

INSERT INTO marriage_certificate (certificate_number, party_id_number, issued_on, spouse_name, spouse_id_number) VALUES
    ('J440106-2018-001234', '440106199001011235', '2018-05-20', '李娜', '440106199203154525'),
    ('J440106-2018-001234', '440106199203154525', '2018-05-20', '张伟', '440106199001011235');

INSERT INTO subsistence_allowance (id_number, status, monthly_amount, since) VALUES
    ('44010319781120046X', 'active', 1200.00, '2024-03-01');
